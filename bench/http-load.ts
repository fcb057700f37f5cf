/**
 * The HTTP client of `npm run bench:testcontainers`, run inside a container's network namespace
 * (nsenter --net) against the host's server through the path under test:
 *   node http-load.js HOST PORT REQUESTS DOWNLOADS
 * Prints {p50, p99, mbps}: per-request latency of small keep-alive GETs (one connection, one
 * request at a time, after a warm-up) and the median throughput of a 100 MB GET on a new connection.
 */
import http from 'node:http';

const [host = '', portText = '', requestsText = '2000', downloadsText = '3'] = process.argv.slice(2);
const port = Number(portText);

function get(agent: http.Agent | false, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function main(): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 200; i++) await get(agent, '/small');
  const ms: number[] = [];
  for (let i = 0; i < Number(requestsText); i++) {
    const t = process.hrtime.bigint();
    await get(agent, '/small');
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  agent.destroy();
  ms.sort((a, b) => a - b);
  const rates: number[] = [];
  for (let i = 0; i < Number(downloadsText); i++) {
    const t = process.hrtime.bigint();
    const bytes = await get(false, '/big');
    rates.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  rates.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ p50: percentile(ms, 50), p99: percentile(ms, 99), mbps: percentile(rates, 50) })}\n`);
}

await main();
