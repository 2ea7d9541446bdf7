package sfu

import (
	"testing"

	"github.com/rtcd/rtcd/internal/testharness"
)

// TestMain fails the package if a goroutine outlives its tests.
func TestMain(m *testing.M) { testharness.VerifyTestMain(m) }
