package turn

import (
	"fmt"
	"strings"

	"github.com/pion/logging"
	"github.com/zeromicro/go-zero/core/logx"
)

// logFactory routes pion's logs to logx. pion logs every bad credential,
// denied permission and failed write to a vanished client at Info or Error
// level; a scanned or busy server would flood the log, so those are lowered
// to debug (rtcd counts them in Stats instead).
type logFactory struct{}

func (logFactory) NewLogger(scope string) logging.LeveledLogger { return pionLogger{scope: scope} }

type pionLogger struct{ scope string }

// noisy are substrings of pion messages that a client or a scanner can
// trigger at will; they never reach info or error level.
var noisy = []string{
	"username", "credential", "integrity", "nonce", "realm",
	"permission denied", "No Permission or Channel",
	"Failed to send", "Failed to close conn", "Failed to handle", "failed to handle",
	"decode", "parse", "malformed", "truncated", "unexpected", "invalid",
}

func isNoisy(msg string) bool {
	for _, n := range noisy {
		if strings.Contains(msg, n) {
			return true
		}
	}
	return false
}

func (l pionLogger) field() logx.LogField { return logx.Field("scope", "pion/"+l.scope) }

// debug takes no fields: pion calls Debug on the per-packet path and logx
// checks the level before touching the message.
func (l pionLogger) debug(msg string) { logx.Debugw(msg) }

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(msg string)      { l.debug(msg) }
func (l pionLogger) Debugf(format string, args ...any) {
	// logx.Debugfn formats only when debug is enabled: pion calls Debugf on the
	// per-packet path.
	logx.Debugf(format, args...)
}
func (l pionLogger) Info(msg string) { l.debug(msg) }
func (l pionLogger) Infof(format string, args ...any) {
	logx.Debugf(format, args...)
}
func (l pionLogger) Warn(msg string) { l.level(msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.level(fmt.Sprintf(format, args...))
}
func (l pionLogger) Error(msg string) { l.level(msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.level(fmt.Sprintf(format, args...))
}

func (l pionLogger) level(msg string) {
	if isNoisy(msg) {
		l.debug(msg)
		return
	}
	logx.Errorw(msg, l.field())
}
