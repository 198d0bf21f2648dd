// suite: Go runtime and standard-library checks, one per mode (the first word of stdin), each
// printing a transcript that must be byte-identical to the same binary's native run:
// json (a round trip of the rest of stdin), goroutines (1,000 goroutines, channels, WaitGroup,
// time.Sleep, time.After, a mutex-protected map of 100,000 entries), sha256 (of 1 MiB), files
// (os.WriteFile, os.ReadDir, os.Rename in /tmp), procs (GOMAXPROCS against the CPU affinity), panic
// (a goroutine panics: exit 2, trace on stderr), hog (allocates until the memory limit ends it),
// exec (runs itself as a child process through os/exec: fork, execve, pipes, wait, SIGCHLD),
// preempt (with one P, a goroutine spinning without function calls must not keep another from
// running: only the runtime's asynchronous preemption, SIGURG sent with tgkill, can stop it).
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

type Order struct {
	ID    int               `json:"id"`
	Items []string          `json:"items"`
	Price float64           `json:"price"`
	Tags  map[string]string `json:"tags,omitempty"`
	Paid  bool              `json:"paid"`
}

func jsonRoundTrip(rest string) {
	var orders []Order
	if err := json.Unmarshal([]byte(rest), &orders); err != nil {
		fmt.Println("unmarshal error:", err)
		os.Exit(1)
	}
	total := 0.0
	for i := range orders {
		total += orders[i].Price
		orders[i].Paid = true
	}
	out, err := json.Marshal(orders)
	if err != nil {
		fmt.Println("marshal error:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
	fmt.Printf("orders %d total %.2f\n", len(orders), total)
	indented, _ := json.MarshalIndent(map[string]int{"b": 2, "a": 1}, "", "  ")
	fmt.Println(string(indented))
}

func goroutines() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	table := make(map[int]int)
	results := make(chan int, 100)
	for g := 0; g < 1000; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			if g%100 == 0 {
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			for k := g * 100; k < (g+1)*100; k++ {
				table[k] = k * 2
			}
			mu.Unlock()
			results <- g
		}(g)
	}
	go func() { wg.Wait(); close(results) }()
	sum := 0
	count := 0
	for g := range results {
		sum += g
		count++
	}
	select {
	case <-time.After(5 * time.Millisecond):
		fmt.Println("time.After fired")
	}
	check := 0
	for k, v := range table {
		if v != 2*k {
			check++
		}
	}
	fmt.Printf("goroutines %d sum %d entries %d wrong %d\n", count, sum, len(table), check)
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 1000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	fmt.Println("ping-pong", v)
}

func sha() {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	fmt.Printf("sha256 %x\n", sha256.Sum256(data))
}

func files() {
	dir := "/tmp/gosuite"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Println("mkdir:", err)
		return
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("%s/file%d.txt", dir, i)
		if err := os.WriteFile(name, []byte(strings.Repeat("go", i+1)), 0o644); err != nil {
			fmt.Println("write:", err)
		}
	}
	if err := os.Rename(dir+"/file0.txt", dir+"/renamed.txt"); err != nil {
		fmt.Println("rename:", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Println("readdir:", err)
		return
	}
	names := []string{}
	for _, entry := range entries {
		info, _ := entry.Info()
		names = append(names, fmt.Sprintf("%s:%d", entry.Name(), info.Size()))
	}
	sort.Strings(names)
	fmt.Println(strings.Join(names, " "))
	content, err := os.ReadFile(dir + "/renamed.txt")
	fmt.Printf("renamed %q %v\n", content, err)
	_, err = os.Stat(dir + "/file0.txt")
	fmt.Println("old name gone:", os.IsNotExist(err))
}

func procs() {
	var mask [16]uint64
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(mask),
		uintptr(unsafe.Pointer(&mask[0])))
	cpus := 0
	for _, word := range mask {
		cpus += bits.OnesCount64(word)
	}
	fmt.Println("affinity ok:", errno == 0 && cpus > 0)
	fmt.Println("GOMAXPROCS equals the CPU set:", runtime.GOMAXPROCS(0) == cpus)
	fmt.Println("NumCPU equals the CPU set:", runtime.NumCPU() == cpus)
}

func panics() {
	fmt.Println("before the panic")
	never := make(chan struct{}) // Never closed: the panic ends the program first.
	go func() {
		var table map[string]int
		table["boom"] = 1 // A nil map: the runtime panics.
	}()
	<-never
	fmt.Println("not reached")
}

var kept [][]byte

func hog() {
	fmt.Println("allocating")
	for i := 0; i < 1024; i++ {
		block := make([]byte, 1<<20)
		for j := 0; j < len(block); j += 4096 {
			block[j] = 1
		}
		kept = append(kept, block)
	}
	fmt.Println("allocated 1 GiB: no limit")
}

// The program runs itself (/proc/self/exe) as a child through os/exec: clone with CLONE_VFORK,
// execve, pipes for the child's stdin and stdout watched by the netpoller, waitid and wait4, a
// SIGCHLD for the Go handler; then a child that fails, for its exit status.
func execSelf() {
	child := exec.Command("/proc/self/exe")
	child.Stdin = strings.NewReader(`json [{"id":7,"items":["x"],"price":1.25}]`)
	out, err := child.Output()
	fmt.Printf("child said %q, error %v\n", string(out), err)
	failing := exec.Command("/proc/self/exe")
	failing.Stdin = strings.NewReader("nonsense")
	out, err = failing.Output()
	code := -1
	if exitError, ok := err.(*exec.ExitError); ok {
		code = exitError.ExitCode()
	}
	fmt.Printf("failing child said %q, exit status %d\n", string(out), code)
}

var spins uint64

func preempt() {
	runtime.GOMAXPROCS(1)
	go func() {
		for i := uint64(0); ; i++ {
			spins = i // No call in the loop: no cooperative preemption point.
		}
	}()
	runtime.Gosched() // The spinner runs now; this goroutine needs the only P back.
	done := make(chan bool)
	go func() { done <- true }()
	<-done
	fmt.Println("another goroutine ran while one spun without function calls")
}

func main() {
	input, _ := io.ReadAll(bufio.NewReader(os.Stdin))
	text := strings.TrimSpace(string(input))
	mode, rest, _ := strings.Cut(text, " ")
	switch mode {
	case "json":
		jsonRoundTrip(rest)
	case "goroutines":
		goroutines()
	case "sha256":
		sha()
	case "files":
		files()
	case "procs":
		procs()
	case "panic":
		panics()
	case "hog":
		hog()
	case "exec":
		execSelf()
	case "preempt":
		preempt()
	default:
		fmt.Println("unknown mode", mode)
		os.Exit(3)
	}
}
