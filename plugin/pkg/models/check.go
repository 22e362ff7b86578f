package models

import (
	"fmt"
	"slices"
)

// Check methods verify what a strict JSON decode cannot: consistency between members.

// Check verifies every record's direction is known.
func (r *FlowsResult) Check() error {
	for i, rec := range r.Records {
		if !Contains(Directions, rec.Direction) {
			return fmt.Errorf("records[%d].direction %q is not one of %v", i, rec.Direction, Directions)
		}
	}
	return nil
}

// Check verifies each row's key carries the grouped dimensions.
func (r *TopResult) Check() error {
	for i, row := range r.Rows {
		for _, d := range r.GroupBy {
			if _, ok := row.Key[d]; !ok {
				return fmt.Errorf("rows[%d].key lacks group_by dimension %q", i, d)
			}
		}
	}
	return nil
}

// Check verifies every series has one value per bucket and buckets ascend.
func (r *TimeseriesResult) Check() error {
	if !slices.IsSorted(r.Times) {
		return fmt.Errorf("times are not ascending")
	}
	for i, s := range r.Series {
		if len(s.Values) != len(r.Times) {
			return fmt.Errorf("series[%d] has %d values for %d times", i, len(s.Values), len(r.Times))
		}
	}
	return nil
}
