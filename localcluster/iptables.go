package localcluster

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// The kubelet creates KUBE-* chains (KUBE-KUBELET-CANARY, KUBE-FIREWALL,
// ...) when iptables is installed. The cluster records the chains present
// before the run and removes the KUBE-* chains that were not, with the rules
// jumping to them.

var iptablesTables = []string{"filter", "nat", "mangle"}

func iptablesCommands() []string {
	var out []string
	for _, c := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(c); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// iptablesChains lists "<cmd> <table> <chain>" for every chain now present.
func iptablesChains() []string {
	var out []string
	for _, cmd := range iptablesCommands() {
		for _, t := range iptablesTables {
			b, err := exec.Command(cmd, "-w", "-t", t, "-S").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && (f[0] == "-N" || f[0] == "-P") {
					out = append(out, cmd+" "+t+" "+f[1])
				}
			}
		}
	}
	return out
}

// restoreIPTables deletes KUBE-* chains absent from before, first removing
// every rule that jumps to them.
func restoreIPTables(before []string) error {
	had := map[string]bool{}
	for _, c := range before {
		had[c] = true
	}
	var errs []error
	for _, cmd := range iptablesCommands() {
		for _, t := range iptablesTables {
			b, err := exec.Command(cmd, "-w", "-t", t, "-S").Output()
			if err != nil {
				continue
			}
			var added []string
			var jumps [][]string
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-") && !had[cmd+" "+t+" "+f[1]] {
					added = append(added, f[1])
				}
				if len(f) >= 2 && f[0] == "-A" {
					jumps = append(jumps, f)
				}
			}
			isAdded := map[string]bool{}
			for _, a := range added {
				isAdded[a] = true
			}
			for _, f := range jumps {
				for i := 0; i+1 < len(f); i++ {
					if (f[i] == "-j" || f[i] == "-g") && isAdded[f[i+1]] && !isAdded[f[1]] {
						args := append([]string{"-w", "-t", t, "-D"}, f[1:]...)
						if out, err := exec.Command(cmd, args...).CombinedOutput(); err != nil {
							errs = append(errs, fmt.Errorf("%s %s: %v: %s", cmd, strings.Join(args, " "), err, out))
						}
						break
					}
				}
			}
			for _, a := range added {
				_ = exec.Command(cmd, "-w", "-t", t, "-F", a).Run()
			}
			for _, a := range added {
				if out, err := exec.Command(cmd, "-w", "-t", t, "-X", a).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -t %s -X %s: %v: %s", cmd, t, a, err, out))
				}
			}
		}
	}
	return errors.Join(errs...)
}
