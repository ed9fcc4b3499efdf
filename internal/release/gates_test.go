package release

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/lockstep-dev/lockstep/api/v1alpha1"
)

func healthyStage(since time.Time) *v1.Application {
	app := &v1.Application{}
	app.Namespace, app.Name = "shop", "web-stage"
	rev := strings.Repeat("a", 40)
	app.Status.LastAppliedRevision = &v1.Revision{Commit: rev}
	app.Status.Sync = v1.SyncStatus{Status: v1.Synced, Revision: rev}
	app.Status.Health = &v1.HealthStatus{Status: "Healthy"}
	app.Status.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue}}
	t := metav1.NewTime(since)
	app.Status.HealthySince = &t
	return app
}

func TestCheckGates(t *testing.T) {
	// A Wednesday, 10:30 in Berlin (09:30 UTC).
	now := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	prod := &v1.Application{}
	prod.Namespace, prod.Name = "shop", "web-prod"
	soak := &metav1.Duration{Duration: time.Hour}
	office := &v1.TimeWindow{Days: []string{"Mon", "Tue", "Wed", "Thu", "Fri"}, Start: "09:00", End: "17:00", TimeZone: "Europe/Berlin"}
	for _, tt := range []struct {
		name      string
		gates     v1.PromotionGates
		src       *v1.Application
		dst       func(*v1.Application)
		approvals int32
		now       time.Time
		want      []string // "" means it passes
	}{
		{name: "soaked, in the window", gates: v1.PromotionGates{Soak: soak, Window: office, Approvals: 2}, src: healthyStage(now.Add(-2 * time.Hour)), approvals: 2, now: now},
		{name: "not soaked", gates: v1.PromotionGates{Soak: soak}, src: healthyStage(now.Add(-10 * time.Minute)), now: now,
			want: []string{"gates.soak: shop/web-stage has been Synced and Healthy at aaaaaaaaaaaa for 10m0s, not 1h0m0s yet: promote after 2026-12-02T10:20:00Z"}},
		{name: "a Saturday", gates: v1.PromotionGates{Window: office}, src: healthyStage(now), now: now.Add(3 * 24 * time.Hour),
			want: []string{"gates.window: promotions are written Mon, Tue, Wed, Thu, Fri from 09:00 to 17:00 (Europe/Berlin); it is Sat 10:30 there"}},
		{name: "after hours", gates: v1.PromotionGates{Window: office}, src: healthyStage(now), now: now.Add(8 * time.Hour), want: []string{"it is Wed 18:30 there"}},
		{name: "a night window, the morning after a Friday", gates: v1.PromotionGates{Window: &v1.TimeWindow{Days: []string{"Fri"}, Start: "22:00", End: "04:00"}},
			src: healthyStage(now), now: time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)},
		{name: "too few approvals enforced", gates: v1.PromotionGates{Approvals: 2}, src: healthyStage(now), approvals: 1, now: now,
			want: []string{"gates.approvals asks 2 approvals, and shop/web-prod's Project enforces 1"}},
		{name: "held", src: healthyStage(now), now: now, dst: func(a *v1.Application) {
			a.Status.Hold = &v1.Hold{By: "alice", Reason: "rolled back (INC-7)", At: metav1.NewTime(now)}
		}, want: []string{"shop/web-prod is held by alice since 2026-12-02T09:30:00Z (rolled back (INC-7)): clear it first"}},
		{name: "held by the annotation, not yet recorded", src: healthyStage(now), now: now, dst: func(a *v1.Application) {
			a.Annotations = map[string]string{v1.AnnotationHold: "garbage"}
		}, want: []string{"is held by someone", "unreadable"}},
		{name: "degraded", src: func() *v1.Application {
			a := healthyStage(now)
			a.Status.Health = &v1.HealthStatus{Status: "Degraded", Object: "Deployment/shop/web", Message: "crash looping"}
			return a
		}(), now: now, want: []string{"shop/web-stage is not Healthy (Degraded: Deployment/shop/web crash looping)"}},
		{name: "nothing applied", src: &v1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-stage"}}, now: now,
			want: []string{"has applied nothing yet"}},
		{name: "a bad zone", gates: v1.PromotionGates{Window: &v1.TimeWindow{Start: "09:00", End: "10:00", TimeZone: "Mars/Olympus"}}, src: healthyStage(now), now: now,
			want: []string{`time zone "Mars/Olympus"`}},
	} {
		dst := prod.DeepCopy()
		if tt.dst != nil {
			tt.dst(dst)
		}
		err := CheckGates(tt.gates, Gate{Source: tt.src, Target: dst, TargetApprovals: tt.approvals, Now: tt.now})
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want %q", tt.name, err, w)
			}
		}
	}
}
