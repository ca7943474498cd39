package kvmhost

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// Frames carry any bytes whole and in order, however the reads on either
// side are cut, and the end frame is the reader's end of file.
func TestStdinFramesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, maxFrame - 1, maxFrame, maxFrame + 1, 100000} {
		in := make([]byte, size)
		for i := range in {
			in[i] = byte(r.Uint32())
		}
		var wire bytes.Buffer
		if err := writeFrames(&wire, iotest.HalfReader(bytes.NewReader(in))); err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(iotest.OneByteReader(&frameReader{r: iotest.HalfReader(&wire)}))
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(out, in) {
			t.Errorf("%d bytes: came back as %d different bytes", size, len(out))
		}
	}
}

// A channel that ends without the end frame, or a frame longer than any
// the host sends, is an error, not a silent end of file.
func TestStdinFramesBroken(t *testing.T) {
	var short bytes.Buffer
	binary.Write(&short, binary.LittleEndian, uint32(10))
	short.WriteString("abc")
	if _, err := io.ReadAll(&frameReader{r: &short}); err == nil || err == io.EOF {
		t.Errorf("a cut frame: err %v, want an error", err)
	}
	var huge bytes.Buffer
	binary.Write(&huge, binary.LittleEndian, uint32(maxFrame+1))
	if _, err := io.ReadAll(&frameReader{r: &huge}); err == nil || !strings.Contains(err.Error(), "out of step") {
		t.Errorf("an oversized frame: err %v", err)
	}
}

// The host sends nothing until a command announces that it has opened the
// channel; then all of Spec.Stdin, once, however many announce it.
func TestFollowerStartsStdinOnMarker(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var sink bytes.Buffer
	f := &follower{spec: &Spec{Stdin: strings.NewReader("hello\n"), Stderr: &sink, Log: &sink}, res: &Result{}, current: 0, stdin: pw}
	f.handle("some stderr\n")
	if f.stdinStarted {
		t.Fatal("the copier started before the marker")
	}
	f.handle(marker + " stdin\n")
	f.handle(marker + " stdin\n")
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(&frameReader{r: pr})
		got <- b
	}()
	select {
	case b := <-got:
		if string(b) != "hello\n" {
			t.Errorf("channel carried %q, want %q", b, "hello\n")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came through the channel")
	}
	pw.Close()
	if sink.String() != "some stderr\n" {
		t.Errorf("console routed %q", sink.String())
	}
}

// scriptedReader returns its reads in order, then io.EOF.
type scriptedReader []struct {
	s   string
	err error
}

func (r *scriptedReader) Read(p []byte) (int, error) {
	if len(*r) == 0 {
		return 0, io.EOF
	}
	step := (*r)[0]
	*r = (*r)[1:]
	return copy(p, step.s), step.err
}

// A terminal's end of file crosses the channel as itself, with the bytes
// read with it before it, and the reads after it go on.
func TestStdinFramesTerminalEOF(t *testing.T) {
	in := scriptedReader{{"line\n", nil}, {"", ErrTerminalEOF}, {"part", ErrTerminalEOF}, {"more\n", nil}}
	var wire bytes.Buffer
	if err := writeFrames(&wire, &in); err != nil {
		t.Fatal(err)
	}
	r := &frameReader{r: &wire}
	buf := make([]byte, 100)
	for i, want := range []struct {
		s   string
		err error
	}{{"line\n", nil}, {"", ErrTerminalEOF}, {"part", nil}, {"", ErrTerminalEOF}, {"more\n", nil}, {"", io.EOF}, {"", io.EOF}} {
		n, err := r.Read(buf)
		if string(buf[:n]) != want.s || err != want.err {
			t.Errorf("read %d: %q, %v; want %q, %v", i, buf[:n], err, want.s, want.err)
		}
	}
}

// The guest's messages come out whole and in order however QEMU's stdout
// cuts them.
func TestMessageWriterFrames(t *testing.T) {
	var wire []byte
	for _, m := range []string{"first", "", "third message"} {
		wire = binary.LittleEndian.AppendUint32(wire, uint32(len(m)))
		wire = append(wire, m...)
	}
	var got []string
	w := &messageWriter{deliver: func(b []byte) { got = append(got, string(b)) }}
	for len(wire) > 0 {
		n := min(3, len(wire))
		w.Write(wire[:n])
		wire = wire[n:]
	}
	if want := []string{"first", "", "third message"}; strings.Join(got, "|") != strings.Join(want, "|") || len(got) != 3 {
		t.Errorf("messages %q, want %q", got, want)
	}
}
