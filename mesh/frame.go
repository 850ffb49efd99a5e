package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Request/response frames (drawn in doc.go):
//
//	request:  length uint32 | request
//	response: status uint8 | length uint32 | body
//
// status 0: body is the response; 1: body is the handler's error message (UTF-8, at most
// maxErrorText bytes); 2: the request was over the handler's size bound (length 0).
const (
	statusOK       = 0
	statusError    = 1
	statusTooLarge = 2

	maxErrorText = 1024
)

// RemoteError is the error a remote handler returned, as the requester receives it.
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string { return "mesh: remote handler: " + e.Msg }

// appendRequest appends the request frame of body to dst.
func appendRequest(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// appendResponse appends a response frame to dst. The body of an error frame is cut to
// maxErrorText bytes of valid UTF-8.
func appendResponse(dst []byte, status byte, body []byte) []byte {
	switch status {
	case statusError:
		body = []byte(errorText(string(body)))
	case statusTooLarge:
		body = nil
	}
	dst = append(dst, status)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// errorText makes s a valid error message body.
func errorText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for len(s) > maxErrorText {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// readRequest reads a request frame of at most max bytes, followed by the end of the
// stream. reserve, if not nil, is asked for the body's memory before it is allocated.
func readRequest(r io.Reader, max int, reserve func(int) error) ([]byte, error) {
	body, err := readBody(r, max, reserve)
	if err != nil {
		return nil, err
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	return body, nil
}

// readResponse reads a response frame followed by the end of the stream: the body if the
// handler succeeded (at most max bytes), a *RemoteError if it failed, ErrTooLarge if the
// request was refused as too large.
func readResponse(r io.Reader, max int) ([]byte, error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return nil, malformed("response status", err)
	}
	var body []byte
	var err error
	switch status[0] {
	case statusOK:
		body, err = readBody(r, max, nil)
	case statusError:
		body, err = readBody(r, maxErrorText, nil)
		if err == nil && !utf8.Valid(body) {
			err = fmt.Errorf("error message is not UTF-8: %w", ErrMalformed)
		}
	case statusTooLarge:
		body, err = readBody(r, 0, nil)
	default:
		err = fmt.Errorf("response status %d: %w", status[0], ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	if err := expectEOF(r); err != nil {
		return nil, err
	}
	switch status[0] {
	case statusError:
		return nil, &RemoteError{Msg: string(body)}
	case statusTooLarge:
		return nil, fmt.Errorf("request refused by the handler: %w", ErrTooLarge)
	}
	return body, nil
}

// readBody reads a length prefix and at most max bytes of body.
func readBody(r io.Reader, max int, reserve func(int) error) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, malformed("length", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%d bytes, limit %d: %w", n, max, ErrTooLarge)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, err
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, malformed("body", err)
	}
	return body, nil
}

// expectEOF requires the stream to end here.
func expectEOF(r io.Reader) error {
	var b [1]byte
	n, err := r.Read(b[:])
	for i := 0; n == 0 && err == nil && i < 16; i++ { // io.Reader allows 0, nil now and then
		n, err = r.Read(b[:])
	}
	switch {
	case n > 0:
		return fmt.Errorf("data after the frame: %w", ErrMalformed)
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return fmt.Errorf("no end of stream after the frame: %w", ErrMalformed)
	}
	return fmt.Errorf("read end of stream: %w", err)
}

// malformed wraps a read error: a stream that ends inside a frame is malformed; any other
// error (reset, deadline) is passed on.
func malformed(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("stream ended in the %s: %w", what, ErrMalformed)
	}
	return fmt.Errorf("read %s: %w", what, err)
}
