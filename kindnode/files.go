package kindnode

// The files the node image adds on top of the Debian root filesystem. Each
// states the part of kind's node-image contract it meets (kind's docs
// "node-image" and "base-image", pkg/build/nodeimage, the podman provider).

// entrypoint prepares the container before systemd starts (kind runs the
// image's ENTRYPOINT with CMD /sbin/init): shared mounts for mount
// propagation, a /kubelet cgroup root for cgroup v1, a fresh machine-id and
// product_uuid per node, /dev/kmsg for the kubelet's OOM watcher. It then
// execs its arguments (systemd).
const entrypoint = `#!/bin/bash
# kvcsi kind node entrypoint: prepare the container, then exec systemd.
set -o errexit -o nounset -o pipefail

log() { echo "kvcsi-entrypoint: $*" >&2; }

# Mount propagation: pods' Bidirectional mounts (the CSI driver) need the
# node's / shared.
mount --make-rshared /

# kind's kubelet configuration uses cgroupRoot /kubelet with the systemd
# driver. On cgroup v1 the container (cgroupns=private) sees its own cgroup as
# the root of each hierarchy; create kubelet's root in each and keep it a
# mount point so systemd does not collect it.
if [[ ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
  # kind waits for this line (or systemd's "Reached target Multi-User
  # System") before it runs kubeadm.
  echo "INFO: detected cgroup v1"
  log "cgroup v1: preparing /kubelet and /kubelet.slice in each hierarchy"
  mount --make-rprivate /sys/fs/cgroup
  for d in /sys/fs/cgroup/*; do
    [[ -d "$d" && ! -L "$d" ]] || continue
    case "$(basename "$d")" in unified) continue ;; esac
    for root in kubelet kubelet.slice; do
      mkdir -p "$d/$root"
      if [[ "$(basename "$d")" == cpuset* ]]; then
        for f in cpuset.cpus cpuset.mems; do
          [[ -f "$d/$f" ]] && cat "$d/$f" > "$d/$root/$f" || true
        done
      fi
      mount --bind "$d/$root" "$d/$root"
    done
  done
fi

# Every node needs its own machine-id and product_uuid (kubelet, kubeadm).
rm -f /etc/machine-id
systemd-machine-id-setup >/dev/null
if [[ -f /sys/class/dmi/id/product_uuid ]]; then
  mkdir -p /kind
  cat /proc/sys/kernel/random/uuid > /kind/product_uuid
  mount --bind /kind/product_uuid /sys/class/dmi/id/product_uuid
fi

# The kubelet's OOM watcher reads /dev/kmsg.
if [[ ! -e /dev/kmsg ]]; then
  ln -s /dev/console /dev/kmsg || true
fi

# iptables: use the backend the host kernel already has rules in, so the node
# and its pods (kube-proxy, kindnet) agree; nft otherwise.
if command -v update-alternatives >/dev/null; then
  legacy=$( (iptables-legacy-save || true) 2>/dev/null | grep -c '^-' || true)
  nft=$( (iptables-nft-save || true) 2>/dev/null | grep -c '^-' || true)
  mode=nft
  if [[ "${legacy:-0}" -gt "${nft:-0}" ]]; then mode=legacy; fi
  update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null 2>&1 || true
  update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null 2>&1 || true
  log "iptables backend: $mode"
fi

log "exec $*"
exec "$@"
`

// containerdConfig is containerd v2's configuration (version 3) in the node:
// the systemd cgroup driver (kind's kubelet uses it), CNI plugins from
// Debian's containernetworking-plugins, the project's pause image pinned as
// the sandbox. restrict_oom_score_adj: the sandbox lacks CAP_SYS_RESOURCE.
const containerdConfig = `version = 3

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '/usr/sbin/runc'
        SystemdCgroup = true

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/opt/cni/bin', '/usr/lib/cni']
    conf_dir = '/etc/cni/net.d'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '` + pauseRef + `'
`

const containerdUnit = `[Unit]
Description=containerd container runtime (kvcsi kind node)
After=network.target local-fs.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`

// importImagesUnit imports /kind/images/*.tar into containerd's k8s.io
// namespace once per node, before the kubelet starts (kind's own build
// imports them at build time; this image does it at first boot, so no
// container engine is needed to build it).
const importImagesUnit = `[Unit]
Description=Import the node's images (/kind/images) into containerd
After=containerd.service
Requires=containerd.service
Before=kubelet.service
ConditionPathExists=!/var/lib/kvcsi-kind/images-imported

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -ec 'for t in /kind/images/*.tar; do /usr/local/bin/ctr --namespace=k8s.io images import --snapshotter=overlayfs "$t"; done; mkdir -p /var/lib/kvcsi-kind; touch /var/lib/kvcsi-kind/images-imported'

[Install]
WantedBy=multi-user.target
`

const kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
After=containerd.service kvcsi-import-images.service
Wants=containerd.service kvcsi-import-images.service

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=1s
CPUAccounting=true
MemoryAccounting=true

[Install]
WantedBy=multi-user.target
`

// kubeadmDropIn is kubeadm's kubelet drop-in (the flags kubeadm init/join
// write into kubeadm-flags.env, the config it writes into config.yaml).
// --fail-cgroupv1=false: Kubernetes 1.35+ refuses cgroup v1 hosts unless told.
const kubeadmDropIn = `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`

const kubeletDefaults = `KUBELET_EXTRA_ARGS=--fail-cgroupv1=false
`

const crictlConfig = `runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
`

// defaultStorage replaces kind's local-path-provisioner (not served by the Go
// module proxy): the "standard" StorageClass kind installs, without a
// provisioner running. kvcsi's catalogue uses no PersistentVolumeClaims.
const defaultStorage = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  namespace: kube-system
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
`

// kindnetScript is the substitute for kindnetd (not served by the Go module
// proxy), with its role: each node gets a CNI config for its podCIDR (ptp +
// host-local + portmap, Debian's plugins) and a route to every other node's
// podCIDR through that node's InternalIP; pod traffic leaving the cluster's
// pod subnet is masqueraded. It runs in the kvcsi-kindnet image (Debian
// iproute2/iptables + kubectl) as a hostNetwork DaemonSet.
const kindnetScript = `#!/bin/bash
# kvcsi-kindnet: kindnetd's role with kubectl, ip and iptables.
set -o nounset -o pipefail
: "${NODE_NAME:?}" "${POD_SUBNET:?}"
if [[ -n "${CONTROL_PLANE_ENDPOINT:-}" ]]; then
  export KUBERNETES_SERVICE_HOST="${CONTROL_PLANE_ENDPOINT%:*}" KUBERNETES_SERVICE_PORT="${CONTROL_PLANE_ENDPOINT##*:}"
fi
conf=/etc/cni/net.d/10-kindnet.conflist
iptables -t nat -N KVCSI-KINDNET-MASQ 2>/dev/null || true
iptables -t nat -C POSTROUTING -j KVCSI-KINDNET-MASQ 2>/dev/null || iptables -t nat -A POSTROUTING -j KVCSI-KINDNET-MASQ
while true; do
  nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>&1) || { echo "kubectl: $nodes" >&2; sleep 2; continue; }
  while read -r name cidr ip; do
    [[ -n "$cidr" && -n "$ip" ]] || continue
    if [[ "$name" == "$NODE_NAME" ]]; then
      want=$(printf '{"cniVersion":"1.0.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","dataDir":"/run/cni-ipam-state","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"%s"}]]},"mtu":1500},{"type":"portmap","capabilities":{"portMappings":true}}]}' "$cidr")
      if [[ "$(cat "$conf" 2>/dev/null)" != "$want" ]]; then
        printf '%s' "$want" > "$conf.tmp" && mv "$conf.tmp" "$conf" && echo "wrote $conf for $cidr"
      fi
      iptables -t nat -C KVCSI-KINDNET-MASQ -s "$cidr" -d "$POD_SUBNET" -j RETURN 2>/dev/null || iptables -t nat -A KVCSI-KINDNET-MASQ -s "$cidr" -d "$POD_SUBNET" -j RETURN
      iptables -t nat -C KVCSI-KINDNET-MASQ -s "$cidr" ! -d "$POD_SUBNET" -j MASQUERADE 2>/dev/null || iptables -t nat -A KVCSI-KINDNET-MASQ -s "$cidr" ! -d "$POD_SUBNET" -j MASQUERADE
    else
      ip route replace "$cidr" via "$ip" || echo "route $cidr via $ip failed" >&2
    fi
  done <<< "$nodes"
  sleep 5
done
`

// defaultCNI is /kind/manifests/default-cni.yaml: kind templates PodSubnet
// into it and adds CONTROL_PLANE_ENDPOINT to the DaemonSet's first
// container (the two marker comments ask for that).
const defaultCNI = `# would you kindly template this file
# would you kindly patch this file
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kindnet
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kindnet
rules:
  - apiGroups: [""]
    resources: [nodes]
    verbs: [list, watch, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kindnet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kindnet
subjects:
  - kind: ServiceAccount
    name: kindnet
    namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kindnet
  namespace: kube-system
  labels:
    app: kindnet
spec:
  selector:
    matchLabels:
      app: kindnet
  template:
    metadata:
      labels:
        app: kindnet
    spec:
      hostNetwork: true
      tolerations:
        - operator: Exists
      serviceAccountName: kindnet
      containers:
        - name: kindnet-cni
          image: ` + kindnetRef + `
          imagePullPolicy: IfNotPresent
          command: ["/usr/local/bin/kvcsi-kindnet"]
          env:
            - name: NODE_NAME
              valueFrom:
                fieldRef:
                  fieldPath: spec.nodeName
            - name: POD_SUBNET
              value: "{{ .PodSubnet }}"
          securityContext:
            privileged: true
          volumeMounts:
            - name: cni-cfg
              mountPath: /etc/cni/net.d
            - name: xtables-lock
              mountPath: /run/xtables.lock
      volumes:
        - name: cni-cfg
          hostPath:
            path: /etc/cni/net.d
            type: DirectoryOrCreate
        - name: xtables-lock
          hostPath:
            path: /run/xtables.lock
            type: FileOrCreate
`
