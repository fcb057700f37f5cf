/**
 * The shell script `doctor --probe` runs in a container, and the parser of its output. Pure.
 * Works with busybox (nc -w, timeout, nslookup when /etc/hosts lacks a name), Alpine and Debian
 * images (getent, netcat): one line per
 * name (`R NAME ADDR`), per name and port (`C NAME PORT RC MESSAGE`) and per nameserver of the
 * container's resolv.conf (`N ADDR`), then `D`.
 */
export const PROBE_SCRIPT = `set +e
names="$1"; ports="$2"
lookup() {
  if command -v getent >/dev/null 2>&1; then getent hosts "$1" | awk '{ print $1; exit }'; return; fi
  a=$(awk -v n="$1" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == n) { print $1; exit } }' /etc/hosts)
  if [ -z "$a" ] && command -v nslookup >/dev/null 2>&1; then
    a=$(nslookup "$1" 2>/dev/null | awk '/^Name:/ { n = 1; next } n && /^Address/ { sub(/^Address[^:]*: */, ""); split($0, w, " "); print w[1]; exit }')
  fi
  echo "$a"
}
T=""; command -v timeout >/dev/null 2>&1 && T="timeout 8"
command -v nc >/dev/null 2>&1 || echo "E nc-missing"
awk '$1 == "nameserver" { print "N " $2 }' /etc/resolv.conf 2>/dev/null
for n in $names; do a=$(lookup "$n"); echo "R $n \${a:--}"; done
for n in $names; do
  a=$(lookup "$n"); [ -n "$a" ] || continue
  for p in $ports; do
    ( out=$($T nc -w 3 "$a" "$p" </dev/null 2>&1 >/dev/null); rc=$?; echo "C $n $p $rc $(printf '%s' "$out" | tr '\\n' ' ')" ) &
  done
done
wait
echo D
`;

export type ConnectResult = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'error';

export interface ProbeOutput {
  resolved: Array<{ name: string; address: string | null }>;
  connections: Array<{ name: string; port: number; result: ConnectResult; detail: string }>;
  /** The container's resolv.conf nameservers, in order. */
  nameservers: string[];
  ncMissing: boolean;
  /** The script ran to its end (`D`). */
  complete: boolean;
}

/** What an `nc` exit status and message mean. Pure. */
export function classifyConnect(rc: number, message: string): ConnectResult {
  if (/refused/i.test(message)) return 'refused';
  if (/timed out|timeout/i.test(message)) return 'timeout';
  if (/no route to host|unreachable/i.test(message)) return 'unreachable';
  if (rc === 0) return 'connected';
  // Killed by `timeout` after nc connected (the connect itself has its own 3 s limit and message).
  if ((rc === 124 || rc === 143) && message.trim() === '') return 'connected';
  return 'error';
}

export function parseProbeOutput(text: string): ProbeOutput {
  const out: ProbeOutput = { resolved: [], connections: [], nameservers: [], ncMissing: false, complete: false };
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f[0] === 'R' && f[1]) out.resolved.push({ name: f[1], address: f[2] && f[2] !== '-' ? f[2] : null });
    else if (f[0] === 'C' && f[1] && f[2] && f[3]) {
      const detail = f.slice(4).join(' ').trim();
      out.connections.push({ name: f[1], port: Number(f[2]), result: classifyConnect(Number(f[3]), detail), detail });
    } else if (f[0] === 'N' && f[1]) out.nameservers.push(f[1]);
    else if (f[0] === 'E' && f[1] === 'nc-missing') out.ncMissing = true;
    else if (f[0] === 'D') out.complete = true;
  }
  out.connections.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
  return out;
}

/** A small image with a shell among `docker image ls` lines (`repo:tag`): busybox first, then alpine. Pure. */
export function pickProbeImage(imageLines: string): string | null {
  const images = imageLines
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.includes('<none>'));
  return images.find((i) => /(^|\/)[^/]*busybox[^/]*:/.test(i)) ?? images.find((i) => /(^|\/)alpine:/.test(i)) ?? null;
}
