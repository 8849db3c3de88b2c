package images

import (
	"debug/elf"
	"fmt"
)

// elfMachines maps GOARCH to the ELF machine of its binaries.
var elfMachines = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

// checkStaticELF rejects binaries that cannot run in a scratch image of
// goarch: other architectures, and dynamically linked ones (which would fail
// in the container with a baffling "no such file or directory" for their
// missing loader).
func checkStaticELF(path, goarch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s is not an ELF binary: %w", path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[goarch]; ok && f.Machine != want {
		return fmt.Errorf("%s is built for %v, not GOARCH=%s", path, f.Machine, goarch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; images carry no libc, so build it static (CGO_ENABLED=0 for Go, busybox-static for busybox)", path)
		}
	}
	return nil
}
