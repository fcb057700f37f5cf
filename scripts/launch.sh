#!/bin/sh
# The `hostalias` command (package.json "bin", copied to dist/cli/hostalias by scripts/bundle.mjs).
# It runs `node main.js ARGS…` with the node on PATH, as a `#!/usr/bin/env node` bin would, but
# for one case: `hostalias run` must add at most 10% to `docker run`, and Node's start
# alone takes more. When the cache Node keeps for `run` (src/docker/run-cache.ts says what is in
# it) proves that nothing it depended on changed, this script execs the engine CLI itself, with
# the same arguments and notes Node would give. Whatever it can't prove goes to Node, which is
# always right: a hostalias option, an --add-host of the user's, another environment, a changed
# file, another boot, the alias gone from lo, no `ip`, not Linux, root. HOSTALIAS_NO_RUN_CACHE=1
# turns the cache off.

build='@BUILD@'

self=$0
while [ -L "$self" ]; do
  link=$(readlink "$self") || break
  case $link in
    /*) self=$link ;;
    *) self=${self%/*}/$link ;;
  esac
done
case $self in
  */*) dir=${self%/*} ;;
  *) dir=. ;;
esac

# Appends one field to $key, length-prefixed so that no two environments give the same key.
field() {
  key="$key ${#1}:$1"
}

# Sets $found to the first executable NAME on PATH, as `command -v` would (without a fork).
find_on_path() {
  found=
  saved_ifs=$IFS
  IFS=:
  set -f
  for d in $PATH; do
    if [ -n "$d" ] && [ -f "$d/$1" ] && [ -x "$d/$1" ]; then
      found=$d/$1
      break
    fi
  done
  set +f
  IFS=$saved_ifs
}

# Execs the cached command if the cache open on fd 3 still holds; returns if not. Arguments: the
# user's. Everything is decided on that one open file (its owner through /dev/fd/3, its lines
# read from it), never on the path again, which its folder's owner could swap meanwhile. The lines
# come in a fixed order, each kind where it belongs (a torn or hand-made file is never used):
#   magic, K, B, then F/N/R/H for each file the answer depended on, L, C, E*, A*, `.`
run_cached() {
  [ -f /dev/fd/3 ] && [ -O /dev/fd/3 ] || return 0
  n=$# cli= notes= phase=magic deps=0 sums= summed=
  while IFS= read -r line <&3; do
    case $phase:$line in
      'magic:hostalias run cache 2') phase=K ;;
      'K:K '*) [ "${line#K }" = "$key" ] || return 0; phase=B ;;
      'B:B '*)
        { IFS= read -r boot </proc/sys/kernel/random/boot_id && [ "${line#B }" = "$boot" ]; } || return 0
        phase=deps ;;
      'deps:F '*) { [ -e "${line#F }" ] && ! [ "${line#F }" -nt /dev/fd/3 ]; } || return 0; deps=$((deps + 1)) ;;
      'deps:N '*) ! [ -e "${line#N }" ] || return 0; deps=$((deps + 1)) ;;
      'deps:R '*)
        rest=${line#R }
        [ "$(readlink "${rest%%	*}")" = "${rest#*	}" ] || return 0 ;;
      'deps:H '*)
        # `H CRC SIZE PATH`: what cksum prints for PATH. All of them are checked at once below.
        rest=${line#H }
        rest=${rest#* }
        sums="$sums${sums:+
}${line#H }"
        summed="$summed${summed:+
}${rest#* }" ;;
      'deps:L '*)
        [ "$deps" -gt 0 ] || return 0
        addresses=$(ip -o address show dev lo </dev/null 2>/dev/null) || return 0
        case " $addresses " in
          *" ${line#L } "*) ;;
          *) return 0 ;;
        esac
        phase=C ;;
      'C:C '*) cli=${line#C }; phase=args ;;
      'args:E '*) notes="$notes${line#E }
" ;;
      'args:A '*) set -- "$@" "${line#A }" ;;
      args:.) phase=whole ;;
      *) return 0 ;;
    esac
  done
  [ "$phase" = whole ] && [ -n "$cli" ] || return 0
  # The content of every regular file among them, not only its time: one cksum for all.
  if [ -n "$summed" ]; then
    got=$(IFS='
'
      set -f
      exec cksum -- $summed 2>/dev/null) || return 0
    [ "$got" = "$sums" ] || return 0
  fi
  # The cached arguments came after the user's: move the user's to the end.
  while [ "$n" -gt 0 ]; do
    set -- "$@" "$1"
    shift
    n=$((n - 1))
  done
  printf '%s' "$notes" >&2
  unset HOSTALIAS_RUN_CACHE HOSTALIAS_RUN_KEY
  exec "$cli" "$@" 3<&-
}

# This process's effective uid, from /proc (no fork); empty where /proc can't tell.
effective_uid() {
  euid=
  while IFS='	 ' read -r field real effective rest; do
    if [ "$field" = Uid: ]; then
      euid=$effective
      break
    fi
  done </proc/self/status
}

# `hostalias run ARGS…`: exec from the cache, or return with Node asked to keep one.
fast_run() {
  shift
  [ $# -gt 0 ] && [ -z "${HOSTALIAS_NO_RUN_CACHE:-}" ] && [ -r /proc/sys/kernel/random/boot_id ] || return 0
  # Never as root: root would run what a file in a user's folder says (sudo keeps HOME, or -E).
  effective_uid
  [ -n "$euid" ] && [ "$euid" != 0 ] || return 0
  for a in "$@"; do
    case $a in
      --|--help|--dry-run|--root|--root=*|--files-root|--files-root=*|--engine|--engine=*|*--add-host*) return 0 ;;
    esac
  done
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    cache=$XDG_CACHE_HOME/hostalias/run.cache
  elif [ -n "${HOME:-}" ]; then
    cache=$HOME/.cache/hostalias/run.cache
  else
    return 0
  fi
  case $cache in /*) ;; *) return 0 ;; esac
  key=$build
  field "${DOCKER_HOST+=}${DOCKER_HOST-}"
  field "${DOCKER_CONTEXT+=}${DOCKER_CONTEXT-}"
  field "${DOCKER_CONFIG+=}${DOCKER_CONFIG-}"
  field "${DOCKER_TLS+=}${DOCKER_TLS-}"
  field "${DOCKER_TLS_VERIFY+=}${DOCKER_TLS_VERIFY-}"
  field "${CONTAINER_HOST+=}${CONTAINER_HOST-}"
  field "${HOME+=}${HOME-}"
  field "${PATH+=}${PATH-}"
  find_on_path docker
  field "$found"
  find_on_path podman
  field "$found"
  case $key in
    *'
'*) return 0 ;;
  esac
  HOSTALIAS_RUN_CACHE=$cache HOSTALIAS_RUN_KEY=$key
  export HOSTALIAS_RUN_CACHE HOSTALIAS_RUN_KEY
  # Opened once; everything after is decided on what was opened (run_cached).
  if [ -f "$cache" ] && ! [ -L "$cache" ]; then
    run_cached "$@" 3<"$cache"
  fi
}

if [ "${1:-}" = run ]; then
  fast_run "$@"
fi
exec node "$dir/main.js" "$@"
