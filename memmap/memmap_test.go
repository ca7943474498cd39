package memmap

import (
	"errors"
	"io"
	"math"
	"testing"

	"github.com/mmvm/mmvm/arch"
)

// fakeFile is a File that does nothing; CheckTranslateResult only needs a
// non-nil one.
type fakeFile struct{}

func (fakeFile) IncRef(FileRange)                                       {}
func (fakeFile) DecRef(FileRange)                                       {}
func (fakeFile) MapInternal(FileRange, arch.AccessType) ([]byte, error) { return nil, nil }
func (fakeFile) FD() int                                                { return -1 }

const pg = arch.PageSize

func mr(start, end uint64) MappableRange { return MappableRange{Start: start * pg, End: end * pg} }

func tr(start, end uint64, perms arch.AccessType) Translation {
	return Translation{Source: mr(start, end), File: fakeFile{}, Offset: 100 * pg, Perms: perms}
}

func TestCheckTranslateResult(t *testing.T) {
	rw := arch.ReadWrite
	errPartial := errors.New("short object")
	for _, tc := range []struct {
		name               string
		required, optional MappableRange
		at                 arch.AccessType
		ts                 []Translation
		terr               error
		want               error // nil, ErrBadTranslateArgs or ErrBadTranslateResult
	}{
		{"exact", mr(1, 3), mr(1, 3), arch.Read, []Translation{tr(1, 3, rw)}, nil, nil},
		{"optional extent", mr(2, 3), mr(0, 8), arch.Write, []Translation{tr(0, 4, rw), tr(4, 8, rw)}, nil, nil},
		{"first contains start", mr(2, 3), mr(0, 8), arch.Read, []Translation{tr(1, 3, rw)}, nil, nil},
		{"partial with error", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(1, 2, rw)}, errPartial, nil},
		{"none with error", mr(1, 5), mr(1, 5), arch.Read, nil, errPartial, nil},
		{"none without error", mr(1, 5), mr(1, 5), arch.Read, nil, nil, ErrBadTranslateResult},
		{"short without error", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(1, 4, rw)}, nil, ErrBadTranslateResult},
		{"gap between", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(1, 2, rw), tr(3, 5, rw)}, nil, ErrBadTranslateResult},
		{"out of order", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(3, 5, rw), tr(1, 3, rw)}, nil, ErrBadTranslateResult},
		{"starts after required", mr(1, 5), mr(0, 5), arch.Read, []Translation{tr(2, 5, rw)}, nil, ErrBadTranslateResult},
		{"outside optional", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(0, 5, rw)}, nil, ErrBadTranslateResult},
		{"too few perms", mr(1, 2), mr(1, 2), arch.Write, []Translation{tr(1, 2, arch.Read)}, nil, ErrBadTranslateResult},
		{"empty source", mr(1, 2), mr(1, 2), arch.Read, []Translation{tr(1, 1, rw)}, nil, ErrBadTranslateResult},
		{"unaligned source", mr(1, 2), mr(1, 2), arch.Read, []Translation{{Source: MappableRange{Start: pg, End: 2*pg + 1}, File: fakeFile{}, Perms: rw}}, nil, ErrBadTranslateResult},
		{"unaligned offset", mr(1, 2), mr(1, 2), arch.Read, []Translation{{Source: mr(1, 2), File: fakeFile{}, Offset: 7, Perms: rw}}, nil, ErrBadTranslateResult},
		{"overflowing offset", mr(1, 2), mr(1, 2), arch.Read, []Translation{{Source: mr(1, 2), File: fakeFile{}, Offset: math.MaxUint64 &^ arch.PageMask, Perms: rw}}, nil, ErrBadTranslateResult},
		{"nil file", mr(1, 2), mr(1, 2), arch.Read, []Translation{{Source: mr(1, 2), Perms: rw}}, nil, ErrBadTranslateResult},
		{"bad result even with error", mr(1, 5), mr(1, 5), arch.Read, []Translation{tr(2, 3, rw)}, errPartial, ErrBadTranslateResult},
		{"empty required", mr(1, 1), mr(0, 2), arch.Read, nil, nil, ErrBadTranslateArgs},
		{"unaligned required", MappableRange{Start: 1, End: pg}, mr(0, 2), arch.Read, nil, nil, ErrBadTranslateArgs},
		{"unaligned optional", mr(1, 2), MappableRange{Start: 0, End: 3*pg - 1}, arch.Read, nil, nil, ErrBadTranslateArgs},
		{"optional not superset", mr(1, 3), mr(2, 4), arch.Read, nil, nil, ErrBadTranslateArgs},
		{"malformed required", MappableRange{Start: 2 * pg, End: pg}, mr(0, 4), arch.Read, nil, nil, ErrBadTranslateArgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTranslateResult(tc.required, tc.optional, tc.at, tc.ts, tc.terr)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want an error wrapping %v", err, tc.want)
			}
		})
	}
}

func TestTranslationFileRange(t *testing.T) {
	got := Translation{Source: mr(3, 5), Offset: 10 * pg}.FileRange()
	if want := (FileRange{Start: 10 * pg, End: 12 * pg}); got != want {
		t.Errorf("FileRange() = %v, want %v", got, want)
	}
}

func TestBusError(t *testing.T) {
	var err error = &BusError{Err: io.ErrUnexpectedEOF}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("BusError does not unwrap to its cause")
	}
	var be *BusError
	if !errors.As(err, &be) || be.Err != io.ErrUnexpectedEOF {
		t.Error("errors.As does not find *BusError")
	}
	if got := err.Error(); got != "bus error: "+io.ErrUnexpectedEOF.Error() {
		t.Errorf("Error() = %q", got)
	}
}

func TestMLockMode(t *testing.T) {
	var zero MLockMode
	if zero != MLockNone {
		t.Error("MLockNone is not the zero value")
	}
	if !(MLockNone < MLockEager && MLockEager < MLockLazy) {
		t.Error("MLockMode order changed; mm combines modes by order")
	}
	for m, want := range map[MLockMode]string{MLockNone: "none", MLockEager: "eager", MLockLazy: "lazy", 7: "MLockMode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(m), got, want)
		}
	}
}

// The interfaces must stay implementable by values outside the package; the
// assertion pins File's method set.
var _ File = fakeFile{}
