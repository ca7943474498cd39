// httploop is a Go program's network round trips over lo: a net/http
// server on 127.0.0.1 and a client that GETs and POSTs through it (one
// kept-alive connection, then new ones), a listener on ":0" (dual stack)
// reached over 127.0.0.1 and [::1], a UDP echo, and the errors a dial
// to a closed port and off lo give. It prints only what any Linux
// prints alike: no ports.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %v", r.URL.Query().Get("name"), net.ParseIP(strings.Split(r.RemoteAddr, ":")[0]))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Length", fmt.Sprint(len(b)))
		w.Write(bytes.ToUpper(b))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)

	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	for i, name := range []string{"a", "b", "c"} {
		resp, err := client.Get(base + "/hello?name=" + name)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("GET %d: %s %q\n", i, resp.Status, b)
	}
	big := strings.Repeat("payload ", 64<<10) // 512 KiB
	resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader(big))
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("POST: %s length %s upper %v\n", resp.Status, resp.Header.Get("X-Length"), string(b) == strings.ToUpper(big))
	tr := &http.Transport{DisableKeepAlives: true}
	for i := range 3 {
		resp, err := (&http.Client{Transport: tr}).Get(base + "/hello?name=fresh")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("new connection %d: %s %q\n", i, resp.Status, b)
	}
	srv.Close()

	dual, err := net.Listen("tcp", ":0")
	if err != nil {
		return err
	}
	port := dual.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := dual.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				fmt.Fprintf(c, "you are %s\n", host)
			}()
		}
	}()
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			fmt.Printf("dial %s: %v\n", host, err)
			continue
		}
		line, _ := io.ReadAll(c)
		c.Close()
		fmt.Printf("dial %s: %s", host, line)
	}
	dual.Close()

	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			pc.WriteToUDP(bytes.ToUpper(buf[:n]), from)
		}
	}()
	uc, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		return err
	}
	uc.SetDeadline(time.Now().Add(10 * time.Second))
	for _, m := range []string{"ping", "datagram"} {
		uc.Write([]byte(m))
		buf := make([]byte, 100)
		n, err := uc.Read(buf)
		fmt.Printf("udp %s: %q %v\n", m, buf[:n], err)
	}
	uc.Close()
	pc.Close()

	_, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	fmt.Printf("dial closed port: refused %v\n", errors.Is(err, syscall.ECONNREFUSED))
	_, err = net.DialTimeout("tcp", "10.1.2.3:80", 5*time.Second)
	fmt.Printf("dial 10.1.2.3: unreachable %v\n", errors.Is(err, syscall.ENETUNREACH))
	return nil
}
