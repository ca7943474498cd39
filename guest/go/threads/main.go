// Command threads is a Go guest program: the Go runtime runs goroutines on
// several threads of its own (and a sysmon thread), preempts them with
// signals and parks them on futexes, so that even a program that starts
// no goroutine needs threads. Each mode prints only what no scheduling
// changes: counts, sums and booleans, never times.
//
//	threads [MODE...]   MODE: pipeline, gc, timers, primes, procs, signal,
//	                    lockthread; all without one
//
// pipeline: four goroutine stages joined by channels over 100000 ints.
// gc: about 200 MiB allocated in short-lived slices, with runtime.GC.
// timers: time.Sleep, time.After and a Ticker ticking five times.
// primes: the primes below 2e6 counted by GOMAXPROCS workers.
// procs: runtime.GOMAXPROCS(0) and runtime.NumCPU() positive.
// signal: a SIGUSR1 sent to the process arrives on an os/signal channel.
// lockthread: four goroutines and main, locked to their threads at once,
// have five distinct thread ids (which of them is the process's first
// thread is the scheduler's choice).
// cpuprofile: runtime/pprof's CPU profile of half a second of CPU time
// (its timers are on the threads' CPU clocks) holds at least five samples
// (about fifty natively: a margin for a loaded machine).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

var modes = []struct {
	name string
	run  func()
}{
	{"pipeline", pipeline},
	{"gc", gc},
	{"timers", timers},
	{"primes", primes},
	{"procs", procs},
	{"signal", signalToSelf},
	{"lockthread", lockThread},
	{"cpuprofile", cpuProfile},
}

func main() {
	want := os.Args[1:]
	if len(want) == 0 {
		for _, m := range modes {
			want = append(want, m.name)
		}
	}
	for _, w := range want {
		found := false
		for _, m := range modes {
			if m.name == w {
				m.run()
				found = true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "threads: no mode %q\n", w)
			os.Exit(2)
		}
	}
}

// pipeline sends 1..100000 through square, add-one and keep-odd stages
// (each a goroutine) and sums what comes out.
func pipeline() {
	const n = 100000
	src := make(chan uint64, 64)
	go func() {
		for i := uint64(1); i <= n; i++ {
			src <- i
		}
		close(src)
	}()
	stage := func(in <-chan uint64, f func(uint64) (uint64, bool)) <-chan uint64 {
		out := make(chan uint64, 64)
		go func() {
			for v := range in {
				if w, keep := f(v); keep {
					out <- w
				}
			}
			close(out)
		}()
		return out
	}
	sq := stage(src, func(v uint64) (uint64, bool) { return v * v, true })
	inc := stage(sq, func(v uint64) (uint64, bool) { return v + 1, true })
	odd := stage(inc, func(v uint64) (uint64, bool) { return v, v%2 == 1 })
	var sum, count uint64
	for v := range odd {
		sum += v
		count++
	}
	fmt.Printf("pipeline: %d values out of 4 stages, sum %d\n", count, sum)
}

// gc allocates 200 slices of 1 MiB, each live only while it is filled and
// summed, and collects every 25 of them.
func gc() {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var sum uint64
	for i := 0; i < 200; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 512 {
			b[j] = byte(i + j>>9)
		}
		for j := 0; j < len(b); j += 512 {
			sum += uint64(b[j])
		}
		if i%25 == 24 {
			runtime.GC()
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("gc: checksum %d, collections > 0 %v, allocated >= 200 MiB %v\n",
		sum, after.NumGC > before.NumGC, after.TotalAlloc-before.TotalAlloc >= 200<<20)
}

// timers sleeps, waits on time.After while a goroutine sleeps too, and
// counts a Ticker's ticks.
func timers() {
	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	slept := time.Since(start) >= 10*time.Millisecond

	done := make(chan bool)
	go func() {
		time.Sleep(5 * time.Millisecond)
		done <- true
	}()
	fired := 0
	for fired < 2 {
		select {
		case <-done:
			fired++
		case <-time.After(20 * time.Millisecond):
			fired++
		}
	}

	t := time.NewTicker(5 * time.Millisecond)
	ticks := 0
	for range t.C {
		ticks++
		if ticks == 5 {
			break
		}
	}
	t.Stop()
	fmt.Printf("timers: slept at least 10ms %v, %d events, %d ticks, monotonic %v\n",
		slept, fired, ticks, time.Since(start) >= 25*time.Millisecond)
}

// primes counts the primes below 2e6 by trial division, the range cut in
// blocks that GOMAXPROCS workers take from a channel.
func primes() {
	const limit = 2000000
	const block = 50000
	var small []uint32
	for p := uint32(2); p*p < limit; p++ {
		isPrime := true
		for _, q := range small {
			if q*q > p {
				break
			}
			if p%q == 0 {
				isPrime = false
				break
			}
		}
		if isPrime {
			small = append(small, p)
		}
	}
	blocks := make(chan uint32, limit/block)
	for b := uint32(0); b < limit; b += block {
		blocks <- b
	}
	close(blocks)
	workers := runtime.GOMAXPROCS(0)
	counts := make([]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := range blocks {
				for n := b; n < b+block; n++ {
					if n < 2 {
						continue
					}
					isPrime := true
					for _, q := range small {
						if q*q > n {
							break
						}
						if n%q == 0 {
							isPrime = false
							break
						}
					}
					if isPrime {
						counts[w]++
					}
				}
			}
		}(w)
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	fmt.Printf("primes below %d: %d\n", limit, total)
}

func procs() {
	fmt.Printf("procs: GOMAXPROCS > 0 %v, NumCPU > 0 %v\n", runtime.GOMAXPROCS(0) > 0, runtime.NumCPU() > 0)
}

func signalToSelf() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		fmt.Printf("signal: kill: %v\n", err)
		return
	}
	select {
	case s := <-c:
		fmt.Printf("signal: received %v\n", s)
	case <-time.After(10 * time.Second):
		fmt.Println("signal: nothing received in 10s")
	}
	signal.Stop(c)
}

func lockThread() {
	const n = 4
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tids := make([]int, n)
	var locked, release, done sync.WaitGroup
	locked.Add(n)
	release.Add(1)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids[i] = syscall.Gettid()
			locked.Done()
			release.Wait()
		}(i)
	}
	locked.Wait()
	distinct := map[int]bool{syscall.Gettid(): true}
	release.Done()
	done.Wait()
	for _, t := range tids {
		distinct[t] = true
	}
	fmt.Printf("lockthread: %d goroutines and main on %d distinct threads\n", n, len(distinct))
}

// cpuProfile profiles half a second of CPU time spent in a loop and
// counts the profile's samples.
func cpuProfile() {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		fmt.Println("cpuprofile:", err)
		return
	}
	start := cpuTime()
	x := uint64(1)
	for cpuTime()-start < 500*time.Millisecond {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	pprof.StopCPUProfile()
	n, err := profileSamples(&buf)
	fmt.Printf("cpuprofile: %v, at least 5 samples: %v (%v)\n", err, n >= 5, x != 0)
}

// cpuTime is the process's CPU time, as getrusage reports it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profileSamples counts the samples of a gzipped profile.proto: the
// first value (the count) of each Sample, field 2 of the Profile
// message, whose values are its field 2 (packed, or one field each).
func profileSamples(r io.Reader) (int, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return 0, err
	}
	n := 0
	err = protoFields(b, func(field uint64, sample []byte) error {
		if field != 2 {
			return nil
		}
		first := true
		return protoFields(sample, func(field uint64, values []byte) error {
			if field == 2 && first {
				v, _ := binary.Uvarint(values)
				n += int(v)
				first = false
			}
			return nil
		})
	})
	return n, err
}

// protoFields calls f with each varint or length-delimited field of
// message b (a varint's data is its encoding).
func protoFields(b []byte, f func(field uint64, data []byte) error) error {
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[k:]
		switch key & 7 {
		case 0:
			_, k = binary.Uvarint(b)
			if k > 0 {
				if err := f(key>>3, b[:k]); err != nil {
					return err
				}
			}
		case 1:
			k = 8
		case 2:
			l, m := binary.Uvarint(b)
			if m <= 0 || l > uint64(len(b)-m) {
				return io.ErrUnexpectedEOF
			}
			if err := f(key>>3, b[m:m+int(l)]); err != nil {
				return err
			}
			k = m + int(l)
		case 5:
			k = 4
		default:
			return io.ErrUnexpectedEOF
		}
		if k <= 0 || k > len(b) {
			return io.ErrUnexpectedEOF
		}
		b = b[k:]
	}
	return nil
}
