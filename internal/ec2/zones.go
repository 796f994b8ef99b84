package ec2

import (
	"context"
	"strings"

	"github.com/gantry-dev/gantry/internal/awsapi"
	w "github.com/gantry-dev/gantry/internal/wire/ec2wire"
)

func (s *Service) zoneActions(m awsapi.QueryModel) map[string]awsapi.QueryHandler {
	return map[string]awsapi.QueryHandler{
		"DescribeAvailabilityZones": action(m, s.DescribeAvailabilityZones),
	}
}

var zoneFilters = filterNames{"zone-name", "zone-id", "region-name", "state", "group-name", "opt-in-status",
	"zone-type", "network-border-group"}

// DescribeAvailabilityZones lists the region's three zones, <region>a to c.
func (s *Service) DescribeAvailabilityZones(ctx context.Context, in *w.DescribeAvailabilityZonesRequest) (*w.DescribeAvailabilityZonesResult, error) {
	if err := zoneFilters.check(in.Filters); err != nil {
		return nil, err
	}
	sc := s.scope(ctx)
	zs := sc.zones()
	var unknown []string
	for _, n := range in.ZoneNames {
		if !contains(zs, n) {
			unknown = append(unknown, n)
		}
	}
	for _, id := range in.ZoneIds {
		known := false
		for _, z := range zs {
			known = known || zoneID(z) == id
		}
		if !known {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, InvalidParameterValue.Errorf("The zone '%s' does not exist.", strings.Join(unknown, ", "))
	}
	out := &w.DescribeAvailabilityZonesResult{AvailabilityZones: []w.AvailabilityZone{}}
	for _, z := range zs {
		if (len(in.ZoneNames) > 0 || len(in.ZoneIds) > 0) && !contains(in.ZoneNames, z) && !contains(in.ZoneIds, zoneID(z)) {
			continue
		}
		az := w.AvailabilityZone{
			ZoneName: z, ZoneId: zoneID(z), RegionName: sc.Region, State: "available",
			OptInStatus: "opt-in-not-required", GroupName: sc.Region, NetworkBorderGroup: sc.Region,
			ZoneType: "availability-zone", GroupLongName: sc.Region, Messages: []w.AvailabilityZoneMessage{},
		}
		a := attrs{"zone-name": {z}, "zone-id": {az.ZoneId}, "region-name": {sc.Region}, "state": {"available"},
			"group-name": {sc.Region}, "opt-in-status": {az.OptInStatus}, "zone-type": {az.ZoneType},
			"network-border-group": {sc.Region}}
		if matches(in.Filters, a, nil) {
			out.AvailabilityZones = append(out.AvailabilityZones, az)
		}
	}
	return out, nil
}
