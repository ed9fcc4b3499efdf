package controller

import (
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/lockstep-dev/lockstep/internal/render/sandbox"
)

func TestAControllerRenderingUnconfinedSaysSoAsAnError(t *testing.T) {
	for _, unconfined := range []bool{false, true} {
		var lines []string
		log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
		warnUnconfined(log, sandbox.Options{Unconfined: unconfined})
		said := strings.Join(lines, "\n")
		if unconfined != strings.Contains(said, `"error"`) || unconfined != strings.Contains(said, "--unsafe-unconfined-renders") {
			t.Errorf("unconfined %v: logged %q", unconfined, said)
		}
	}
}
