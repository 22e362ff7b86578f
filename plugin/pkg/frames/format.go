package frames

import (
	"math"
	"strconv"
)

// Text for values Grafana shows without formatting them: the Node Graph panel prints a
// numeric main/secondary stat as value.toFixed(2) + " " + unit ("1048576.00 bytes") and
// detail fields raw, but shows a string as it is, so those arrive formatted.

var iecUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatBytes renders bytes in IEC units with three significant digits: "512 B", "1.50 KiB", "12.3 MiB".
func FormatBytes(v float64) string {
	i := 0
	for math.Abs(v) >= 1024 && i < len(iecUnits)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	}
	return significant(v) + " " + iecUnits[i]
}

var siSuffixes = []string{"", "K", "M", "G", "T", "P", "E"}

// FormatCount renders a count with an SI suffix above 999: "999", "1.23K", "45.6M".
func FormatCount(v float64) string {
	i := 0
	for math.Abs(v) >= 1000 && i < len(siSuffixes)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return significant(v) + siSuffixes[i]
}

// FormatMetric renders a metric's value with its unit: bytes in IEC, packets and flows as counts.
func FormatMetric(metric string, v float64) string {
	switch MetricUnit(metric) {
	case "bytes":
		return FormatBytes(v)
	}
	switch metric {
	case "flows":
		return FormatCount(v) + " conns"
	}
	return FormatCount(v) + " pkts"
}

func significant(v float64) string {
	decimals := 2
	switch a := math.Abs(v); {
	case a >= 100:
		decimals = 0
	case a >= 10:
		decimals = 1
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
