package ec2_test

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/gantrytest"
)

func TestMain(m *testing.M) { gantrytest.Main(m) }
