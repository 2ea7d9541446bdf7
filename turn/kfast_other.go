//go:build !linux

package turn

// kernelFast is the kernel fast path; it exists only on Linux
// (kfast_linux.go), so openKernelFast always fails here and Config.FastPath
// auto stays in user space.
type kernelFast struct{}

// kfCounts are one binding's kernel traffic.
type kfCounts struct{ toPkts, toBytes, fromPkts, fromBytes uint64 }

func openKernelFast([]string, uint32) (*kernelFast, error) { return nil, errKernelUnsupported }

func (*kernelFast) close()                           {}
func (*kernelFast) describe() string                 { return "" }
func (*kernelFast) entry(*binding) (*kfEntry, error) { return nil, errKernelUnsupported }
func (*kernelFast) install(*kfEntry) error           { return errKernelUnsupported }
func (*kernelFast) remove(*kfEntry) kfCounts         { return kfCounts{} }
func (*kernelFast) read(uint32) kfCounts             { return kfCounts{} }
