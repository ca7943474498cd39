module github.com/mmvm/mmvm/bench/pagetable

go 1.26.3

require (
	github.com/mmvm/mmvm v0.0.0
	gvisor.dev/gvisor v0.0.0-20260905035102-160fafc42237
)

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/mmvm/mmvm => ../..
