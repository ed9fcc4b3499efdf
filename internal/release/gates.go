package release

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

// Gate is what a promotion's gates are checked against.
type Gate struct {
	// Source and Target are the Applications promoted from and into.
	Source, Target *v1.Application
	// TargetApprovals is how many approvals the target's Project enforces
	// (spec.approvals.required; 0 when it enforces none).
	TargetApprovals int32
	// Now is when the promotion would be written.
	Now time.Time
}

// CheckGates says why a promotion from g.Source into g.Target may not be
// written now, every reason at once; nil when it may. Whatever the gates,
// the source must run a revision, Synced and Healthy, and the target must
// not be held.
func CheckGates(gates v1.PromotionGates, g Gate) error {
	src, dst := g.Source, g.Target
	var errs []error
	if h := dst.Status.Hold; h != nil || dst.Annotations[v1.AnnotationHold] != "" {
		if h == nil {
			h = v1.ParseHold(dst.Annotations[v1.AnnotationHold])
		}
		errs = append(errs, fmt.Errorf("%s is held by %s since %s (%s): clear it first: lockstep hold %s --clear", name(dst), Printable(orUnknown(h.By)), h.At.UTC().Format(time.RFC3339), Printable(h.Reason), name(dst)))
	}
	applied := src.Status.LastAppliedRevision
	switch {
	case applied == nil || applied.Commit == "":
		errs = append(errs, fmt.Errorf("%s has applied nothing yet: there is nothing to promote", name(src)))
	case src.Generation != src.Status.ObservedGeneration:
		errs = append(errs, fmt.Errorf("%s's spec changed since it was last reconciled: promote once it has run it", name(src)))
	case src.Status.Sync.Status != v1.Synced || src.Status.Sync.Revision != applied.Commit:
		errs = append(errs, fmt.Errorf("%s is not Synced at the revision it runs (%s): promote once it is", name(src), short(applied.Commit)))
	case src.Status.Health == nil || src.Status.Health.Status != "Healthy":
		errs = append(errs, fmt.Errorf("%s is not Healthy (%s): promote once it is", name(src), healthOf(src)))
	case !meta.IsStatusConditionTrue(src.Status.Conditions, v1.ConditionReady):
		errs = append(errs, fmt.Errorf("%s is not Ready: promote once it is", name(src)))
	case gates.Soak != nil && (src.Status.HealthySince == nil || g.Now.Sub(src.Status.HealthySince.Time) < gates.Soak.Duration):
		since := g.Now
		if src.Status.HealthySince != nil {
			since = src.Status.HealthySince.Time
		}
		errs = append(errs, fmt.Errorf("gates.soak: %s has been Synced and Healthy at %s for %s, not %s yet: promote after %s", name(src), short(applied.Commit),
			g.Now.Sub(since).Round(time.Second), gates.Soak.Duration, since.Add(gates.Soak.Duration).UTC().Format(time.RFC3339)))
	}
	if gates.Approvals > g.TargetApprovals {
		errs = append(errs, fmt.Errorf("gates.approvals asks %d approvals, and %s's Project enforces %d: set its spec.approvals.required to at least %d (the two-person rule counts them on the merge), or lower the gate", gates.Approvals, name(dst), g.TargetApprovals, gates.Approvals))
	}
	if w := gates.Window; w != nil {
		if err := inWindow(*w, g.Now); err != nil {
			errs = append(errs, fmt.Errorf("gates.window: %w", err))
		}
	}
	return errors.Join(errs...)
}

var weekdays = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// inWindow says why now is outside w, nil when it is inside.
func inWindow(w v1.TimeWindow, now time.Time) error {
	loc := time.UTC
	if w.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(w.TimeZone); err != nil {
			return fmt.Errorf("time zone %q: %w", w.TimeZone, err)
		}
	}
	start, err1 := minuteOfDay(w.Start)
	end, err2 := minuteOfDay(w.End)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	for _, d := range w.Days {
		if !slices.Contains(weekdays, d) {
			return fmt.Errorf("day %q: want one of %s", d, strings.Join(weekdays, ", "))
		}
	}
	local := now.In(loc)
	minute := local.Hour()*60 + local.Minute()
	day := local.Weekday()
	inside := false
	switch {
	case start == end:
		inside = true
	case start < end:
		inside = minute >= start && minute < end
	case minute >= start: // spans midnight: the evening part, on its day
		inside = true
	case minute < end: // the morning part belongs to the day before
		inside, day = true, (day+6)%7
	}
	if inside && (len(w.Days) == 0 || slices.Contains(w.Days, weekdays[day])) {
		return nil
	}
	days := "every day"
	if len(w.Days) > 0 {
		days = strings.Join(w.Days, ", ")
	}
	return fmt.Errorf("promotions are written %s from %s to %s (%s); it is %s %s there", days, w.Start, w.End, loc, weekdays[local.Weekday()], local.Format("15:04"))
}

func minuteOfDay(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day (15:04)", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func name(app *v1.Application) string { return app.Namespace + "/" + app.Name }

func healthOf(app *v1.Application) string {
	if h := app.Status.Health; h != nil {
		if h.Object != "" {
			return h.Status + ": " + h.Object + " " + h.Message
		}
		return h.Status
	}
	return "unknown"
}

func orUnknown(s string) string {
	if s == "" {
		return "someone"
	}
	return s
}
