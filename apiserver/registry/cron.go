package registry

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A parser for CronJob schedules accepting what upstream's
// (robfig/cron ParseStandard) accepts: five fields (minute hour
// day-of-month month day-of-week) with lists, ranges, steps, '*' and '?',
// month and weekday names; or a descriptor (@yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly, @every <duration>); optionally
// prefixed with TZ=<zone> or CRON_TZ=<zone>.

// cronField is the range and names of one schedule field.
type cronField struct {
	min, max int
	names    map[string]int
}

var cronFields = []cronField{
	{min: 0, max: 59},
	{min: 0, max: 23},
	{min: 1, max: 31},
	{min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}},
	{min: 0, max: 6, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}},
}

var cronDescriptors = map[string]bool{
	"@yearly": true, "@annually": true, "@monthly": true, "@weekly": true,
	"@daily": true, "@midnight": true, "@hourly": true,
}

// parseCronSchedule returns an error describing why schedule is not a
// valid cron schedule, or nil.
func parseCronSchedule(schedule string) error {
	if schedule == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(schedule, "TZ=") || strings.HasPrefix(schedule, "CRON_TZ=") {
		tz, rest, _ := strings.Cut(schedule, " ")
		_, zone, _ := strings.Cut(tz, "=")
		if _, err := time.LoadLocation(zone); err != nil {
			return fmt.Errorf("provided bad location %s: %v", zone, err)
		}
		schedule = strings.TrimSpace(rest)
	}
	if strings.HasPrefix(schedule, "@") {
		return parseCronDescriptor(schedule)
	}
	fields := strings.Fields(schedule)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("expected exactly %d fields, found %d: %s", len(cronFields), len(fields), fields)
	}
	for i, f := range fields {
		for _, expr := range strings.Split(f, ",") {
			if err := parseCronRange(expr, cronFields[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseCronDescriptor(d string) error {
	if cronDescriptors[d] {
		return nil
	}
	if every, ok := strings.CutPrefix(d, "@every "); ok {
		if _, err := time.ParseDuration(every); err != nil {
			return fmt.Errorf("failed to parse duration %s: %s", d, err)
		}
		return nil
	}
	return fmt.Errorf("unrecognized descriptor: %s", d)
}

// parseCronRange checks one list element: "*", "?", "n", "a-b", each
// optionally followed by "/step".
func parseCronRange(expr string, f cronField) error {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	if len(rangeAndStep) > 2 {
		return fmt.Errorf("too many slashes: %s", expr)
	}
	if len(lowAndHigh) > 2 {
		return fmt.Errorf("too many hyphens: %s", expr)
	}
	start, end := f.min, f.max
	if lowAndHigh[0] != "*" && lowAndHigh[0] != "?" {
		var err error
		if start, err = cronValue(lowAndHigh[0], f); err != nil {
			return err
		}
		end = start
		if len(lowAndHigh) == 2 {
			if end, err = cronValue(lowAndHigh[1], f); err != nil {
				return err
			}
		} else if len(rangeAndStep) == 2 {
			end = f.max // "n/step" runs from n to the end of the range
		}
	} else if len(lowAndHigh) == 2 {
		return fmt.Errorf("too many hyphens: %s", expr)
	}
	if len(rangeAndStep) == 2 {
		step, err := cronNumber(rangeAndStep[1], expr)
		if err != nil {
			return err
		}
		if step == 0 {
			return fmt.Errorf("step of range should be a positive number: %s", expr)
		}
	}
	switch {
	case start < f.min:
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	}
	return nil
}

func cronValue(s string, f cronField) (int, error) {
	if n, ok := f.names[strings.ToLower(s)]; ok {
		return n, nil
	}
	return cronNumber(s, s)
}

func cronNumber(s, expr string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return n, nil
}
