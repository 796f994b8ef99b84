package ecs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// TestTwoServersScheduleOnce: two servers on one etcd both run the service
// controller loop, but only the leader of the election schedules. A service
// gets exactly its desired tasks, never a second set; when the leader
// stops, the other server takes over and keeps scheduling. (A third server
// holds the etcd both use and stays out of the election, so that stopping
// the leader does not stop the etcd.)
func TestTwoServersScheduleOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	holder, err := gt.Start(gt.WithoutServiceController())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holder.Close)
	etcd := gt.WithEtcdOf(holder)
	first, err := gt.Start(etcd)
	if err != nil {
		t.Fatal(err)
	}
	firstClosed := false
	t.Cleanup(func() {
		if !firstClosed {
			first.Close()
		}
	})
	waitUntil(t, 10*time.Second, "the first server to lead", func() bool { return first.Server.LeadsServices() })
	second, err := gt.Start(etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Close)
	region := gt.NewRegion()
	viaFirst, viaSecond := first.ECSIn(region), second.ECSIn(region)

	const cluster, name = "ha", "web"
	simFleet(t, second, viaSecond, cluster, 3) // the agents talk to the second server
	simTD(t, viaFirst, "web")
	gt.Must(viaFirst.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(name), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(4),
	}))(t)
	waitStable(t, viaSecond, cluster, name)
	// A second controller would have started a second set: watch a while.
	time.Sleep(time.Second)
	all := func() int {
		return len(serviceTasks(t, viaFirst, cluster, name, types.DesiredStatusRunning)) + len(serviceTasks(t, viaFirst, cluster, name, types.DesiredStatusStopped))
	}
	if n := all(); n != 4 {
		t.Fatalf("%d tasks were started for a service of 4 by two servers", n)
	}

	if second.Server.LeadsServices() {
		t.Fatal("both servers lead the service controller")
	}
	// The leader stops; the second takes over.
	first.Close()
	firstClosed = true
	waitUntil(t, 30*time.Second, "the second server to lead", func() bool { return second.Server.LeadsServices() })
	gt.Must(viaSecond.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), DesiredCount: aws.Int32(6)}))(t)
	if svc := waitStable(t, viaSecond, cluster, name); svc.RunningCount != 6 {
		t.Fatalf("after the first server stopped: running %d, want 6", svc.RunningCount)
	}
	if n := len(serviceTasks(t, viaSecond, cluster, name, types.DesiredStatusRunning)) + len(serviceTasks(t, viaSecond, cluster, name, types.DesiredStatusStopped)); n != 6 {
		t.Fatalf("%d tasks started in all, want 6", n)
	}
}
