#!/bin/sh
# The `hostalias` command (package.json "bin", copied to dist/cli/hostalias by scripts/bundle.mjs).
# It runs `node main.js ARGS…` with the node on PATH, as a `#!/usr/bin/env node` bin would, but
# for one case: `hostalias run` must add at most 10% to `docker run`, and Node's start
# alone takes more. When the cache Node keeps for `run` (src/docker/run-cache.ts says what is in
# it) proves that nothing it depended on changed, this script execs the engine CLI itself, with
# the same arguments and notes Node would give. Whatever it can't prove goes to Node, which is
# always right: a hostalias option, an --add-host of the user's, another environment, a changed
# file, another boot, the alias gone from lo, no `ip`, not Linux. HOSTALIAS_NO_RUN_CACHE=1 turns
# the cache off.

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

# Execs the cached command if cache (on fd 3) still holds; returns if not. Arguments: the user's.
run_cached() {
  n=$# cli= notes= whole=
  IFS= read -r line <&3 && [ "$line" = 'hostalias run cache 1' ] || return 0
  while IFS= read -r line <&3; do
    case $line in
      'K '*) [ "${line#K }" = "$key" ] || return 0 ;;
      'B '*) { IFS= read -r boot </proc/sys/kernel/random/boot_id && [ "${line#B }" = "$boot" ]; } || return 0 ;;
      'F '*) { [ -e "${line#F }" ] && ! [ "${line#F }" -nt "$cache" ]; } || return 0 ;;
      'N '*) ! [ -e "${line#N }" ] || return 0 ;;
      'R '*)
        rest=${line#R }
        [ "$(readlink "${rest%%	*}")" = "${rest#*	}" ] || return 0 ;;
      'L '*)
        addresses=$(ip -o address show dev lo </dev/null 2>/dev/null) || return 0
        case " $addresses " in
          *" ${line#L } "*) ;;
          *) return 0 ;;
        esac ;;
      'C '*) cli=${line#C } ;;
      'E '*) notes="$notes${line#E }
" ;;
      'A '*) set -- "$@" "${line#A }" ;;
      .) whole=1 ;;
      *) return 0 ;;
    esac
  done
  [ -n "$whole" ] && [ -n "$cli" ] || return 0
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

# `hostalias run ARGS…`: exec from the cache, or return with Node asked to keep one.
fast_run() {
  shift
  [ $# -gt 0 ] && [ -z "${HOSTALIAS_NO_RUN_CACHE:-}" ] && [ -r /proc/sys/kernel/random/boot_id ] || return 0
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
  if [ -f "$cache" ] && ! [ -L "$cache" ] && [ -O "$cache" ]; then
    run_cached "$@" 3<"$cache"
  fi
}

if [ "${1:-}" = run ]; then
  fast_run "$@"
fi
exec node "$dir/main.js" "$@"
