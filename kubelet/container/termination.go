package container

import (
	"bytes"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Limits of a termination message, as upstream's kubelet.
const (
	MaxTerminationMessageBytes    = 4096
	MaxTerminationMessageLogBytes = 2048
	MaxTerminationMessageLogLines = 80
	// logTailWindow is how much of the log end is read for the fallback.
	logTailWindow = 256 * 1024
)

// TerminationMessage reads what container c wrote to its termination
// message file in run restartCount (at most 4096 bytes). With
// terminationMessagePolicy FallbackToLogsOnError, an empty message of a
// container that failed (exitCode != 0) is replaced by the end of its log
// at logPath: the last 80 lines, at most 2048 bytes.
func (b *Builder) TerminationMessage(uid types.UID, c *corev1.Container, restartCount, exitCode int32, logPath string) (string, error) {
	f := b.TerminationMessageFile(uid, c.Name, restartCount)
	msg, err := readAtMost(f, MaxTerminationMessageBytes)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("read termination message: %w", err)
	}
	if len(msg) > 0 || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || exitCode == 0 || logPath == "" {
		return string(msg), nil
	}
	tail, err := TailLog(logPath, MaxTerminationMessageLogLines, MaxTerminationMessageLogBytes)
	if err != nil {
		return "", err
	}
	return tail, nil
}

func readAtMost(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// TailLog returns the last lines of a CRI-format log file
// ("<time> <stream> <P|F> <text>", partial lines joined), at most maxLines
// lines and the last maxBytes bytes of them.
func TailLog(path string, maxLines, maxBytes int) (string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read log: %w", err)
	}
	start := int64(0)
	if st.Size() > logTailWindow {
		start = st.Size() - logTailWindow
	}
	data := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(data, start); err != nil && err != io.EOF {
		return "", fmt.Errorf("read log: %w", err)
	}
	if start > 0 {
		// Drop the first, probably cut, record.
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	var lines []string
	var partial []byte
	for _, rec := range bytes.Split(data, []byte("\n")) {
		if len(rec) == 0 {
			continue
		}
		// <time> <stream> <tag> <text>
		parts := bytes.SplitN(rec, []byte(" "), 4)
		if len(parts) < 3 {
			continue
		}
		text := []byte{}
		if len(parts) == 4 {
			text = parts[3]
		}
		partial = append(partial, text...)
		if string(parts[2]) == "P" {
			continue
		}
		lines = append(lines, string(partial)+"\n")
		partial = nil
	}
	if len(partial) > 0 {
		lines = append(lines, string(partial))
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	var out bytes.Buffer
	for _, l := range lines {
		out.WriteString(l)
	}
	b := out.Bytes()
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return string(b), nil
}
