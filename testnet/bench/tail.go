package bench

import "sync"

// TailBuffer keeps the last Max bytes written to it: a process's own output (a browser's,
// a benchmark node's), kept for the message of a failure.
type TailBuffer struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

func (w *TailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.Max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *TailBuffer) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf...)
}
