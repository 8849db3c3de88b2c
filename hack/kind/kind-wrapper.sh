#!/bin/sh
# kind through rootful podman with kvcsi's offline node image (mk/kind.mk
# writes this to _output/kind/bin/kind; docs/kind.md):
#   - KIND_EXPERIMENTAL_PROVIDER=podman, CONTAINERS_CONF with ulimits the
#     sandbox allows;
#   - a podman network of the cluster's own, kind-<cluster>, removed after
#     `kind delete cluster` (kind itself leaves its network behind);
#   - `create cluster` without --image gets the image in node-image.ref.
set -eu
kind_dir='@KIND_DIR@'
self_dir=$(cd "$(dirname "$0")" && pwd)
real=
old_ifs=$IFS; IFS=:
for d in $PATH; do
  [ "$d" = "$self_dir" ] && continue
  if [ -x "$d/kind" ]; then real="$d/kind"; break; fi
done
IFS=$old_ifs
[ -n "$real" ] || { echo "kind wrapper: no kind on PATH besides $self_dir (make kind-deps)" >&2; exit 127; }

name=kind
prev=
for a in "$@"; do
  case "$a" in --name=*) name=${a#--name=} ;; esac
  [ "$prev" = --name ] && name=$a
  prev=$a
done
export KIND_EXPERIMENTAL_PROVIDER=podman
export KIND_EXPERIMENTAL_PODMAN_NETWORK="kind-$name"
export CONTAINERS_CONF="$kind_dir/containers.conf"

if [ "${1:-}" = create ] && [ "${2:-}" = cluster ]; then
  case " $* " in
    *" --image"*) ;;
    *)
      [ -s "$kind_dir/node-image.ref" ] || { echo "kind wrapper: no $kind_dir/node-image.ref (make kind-node-image)" >&2; exit 1; }
      shift 2
      set -- create cluster --image "$(cat "$kind_dir/node-image.ref")" "$@"
      ;;
  esac
fi
if [ "${1:-}" = delete ] && [ "${2:-}" = cluster ]; then
  rc=0
  "$real" "$@" || rc=$?
  if [ "$rc" = 0 ] && podman network exists "kind-$name" 2>/dev/null &&
    [ -z "$(podman ps -aq --filter "network=kind-$name")" ]; then
    podman network rm "kind-$name" >/dev/null && echo "Deleted podman network kind-$name" >&2
  fi
  exit "$rc"
fi
exec "$real" "$@"
