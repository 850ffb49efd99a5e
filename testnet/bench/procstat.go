package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on every Linux
// architecture Go supports).
const userHZ = 100

// procCPU returns the CPU time (user + system) process pid has used so far, from
// /proc/<pid>/stat:
//
//	pid (comm) state ppid ... utime stime ...
//	                          ^14   ^15     (1-based fields; comm may contain spaces and
//	                                         parentheses, so fields are counted after the last ')')
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of process %d: %w", pid, err)
	}
	return parseProcStatCPU(data)
}

func parseProcStatCPU(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, errors.New("proc stat: no ')' after the command name")
	}
	// After ") " come fields 3 (state) onwards; utime and stime are fields 14 and 15.
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("proc stat: %w", err)
	}
	ticks := utime + stime
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// procRSS returns the resident set size of process pid in bytes, from the VmRSS line of
// /proc/<pid>/status ("VmRSS:     12345 kB").
func procRSS(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return parseProcStatusRSS(data)
}

func parseProcStatusRSS(data []byte) (uint64, error) {
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: odd VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("proc status: no VmRSS line")
}
