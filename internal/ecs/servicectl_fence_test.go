package ecs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"go.etcd.io/etcd/client/v3/concurrency"

	gtecs "github.com/gantry-dev/gantry/internal/ecs"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/state"
)

// A service controller that runs with the fence of a leadership term that
// has ended (its server was paused past its lease, another won) places no
// task and writes nothing; with the fence of the current term it
// schedules the service.
func TestServiceControllerIsFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, err := gt.Start(gt.WithoutServiceController())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	c := env.ECSIn(gt.NewRegion())
	const cluster, name = "fenced", "web"
	simFleet(t, env, c, cluster, 2)
	simTD(t, c, "web")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2),
	}))(t)
	before := gt.Must(c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}}))(t)

	term := func() (*concurrency.Session, state.Fence) {
		sess, err := concurrency.NewSession(env.Store().Client(), concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sess.Close() })
		el := concurrency.NewElection(sess, "/test/elections/"+t.Name())
		if err := el.Campaign(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		return sess, state.Fence{Key: el.Key(), Rev: el.Rev()}
	}
	oldSess, oldTerm := term()
	if _, err := env.Store().Client().Revoke(ctx, oldSess.Lease()); err != nil {
		t.Fatal(err)
	}
	_, newTerm := term()

	ctl := gtecs.NewWithOptions(env.Store(), slog.New(slog.NewTextHandler(io.Discard, nil)), gtecs.Options{})
	t.Cleanup(ctl.Close)
	deposed, cancel := context.WithTimeout(state.WithFence(ctx, oldTerm), 3*time.Second)
	defer cancel()
	ctl.RunServiceController(deposed)
	<-deposed.Done()
	if n := len(serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)) + len(serviceTasks(t, c, cluster, name, types.DesiredStatusStopped)); n != 0 {
		t.Fatalf("a deposed leader's controller started %d tasks", n)
	}
	after := gt.Must(c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{name}}))(t)
	if len(after.Services[0].Events) != len(before.Services[0].Events) {
		t.Fatalf("a deposed leader's controller wrote service events: %+v", after.Services[0].Events)
	}

	leading, stop := context.WithCancel(state.WithFence(ctx, newTerm))
	done := make(chan struct{})
	go func() { ctl.RunServiceController(leading); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	if svc := waitStable(t, c, cluster, name); svc.RunningCount != 2 {
		t.Fatalf("the leader's controller: running %d, want 2", svc.RunningCount)
	}
}
