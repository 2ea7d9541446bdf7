package proto

import (
	"testing"

	"github.com/rtcd/rtcd/internal/leaktest"
)

// TestMain fails the package if a goroutine outlives its tests.
func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }
