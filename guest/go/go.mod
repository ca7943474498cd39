// The Go guest programs: a module of their own, so that the main module's
// go vet, staticcheck and go test ./... do not take them in.
module github.com/mmvm/mmvm/guest/go

go 1.22
