package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// What retrying can achieve decides how an error is handled (ADR 0016):
// Permanent errors fail the same way every time, Unavailable ones pass
// later, and deadlocks and lock wait time-outs are retried by InTx at once.

// MySQL server error numbers of data that no retry can make fit.
const (
	errBadNull          = 1048 // column cannot be null
	errNoDefault        = 1364 // field doesn't have a default value
	errTruncated        = 1265 // data truncated for column
	errOutOfRange       = 1264
	errDataTooLong      = 1406
	errIncorrectValue   = 1366 // incorrect integer/decimal/string value
	errIncorrectValue2  = 1292 // truncated incorrect value (dates, numbers)
	errDivisionByZero   = 1365
	errRowIsReferenced  = 1451 // a parent row still has children
	errNoReferencedRow  = 1452 // a child row without its parent
	errRowIsReferenced2 = 1217
	errNoReferencedRow2 = 1216
	errCheckMySQL       = 3819 // check constraint violated (MySQL 8)
	errCheckMariaDB     = 4025 // CONSTRAINT ... failed (MariaDB)
)

// MySQL error numbers of a server that is unreachable or overloaded. The
// 2xxx numbers are client errors that other drivers and proxies report;
// go-sql-driver itself returns net errors or ErrInvalidConn for them.
const (
	errTooManyConns     = 1040
	errUserConns        = 1203 // max_user_connections
	errServerShutdown   = 1053
	errConnCount        = 2002 // can't connect through socket
	errConnHost         = 2003 // can't connect to server
	errServerGone       = 2006
	errServerLost       = 2013
	errReadOnly         = 1290 // --read-only: a failover in progress
	errQueryInterrupted = 1317
)

// Permanent reports a data error: the statement fails the same way however
// often it is retried.
func Permanent(err error) bool {
	switch mysqlErr(err) {
	case errBadNull, errNoDefault, errTruncated, errOutOfRange, errDataTooLong, errIncorrectValue,
		errIncorrectValue2, errDivisionByZero, errRowIsReferenced, errNoReferencedRow,
		errRowIsReferenced2, errNoReferencedRow2, errCheckMySQL, errCheckMariaDB:
		return true
	}
	return false
}

// Unavailable reports that the database could not be reached or refused
// more work for now: connection refused or reset, a broken connection, a
// network time-out, too many connections, a server shutting down, or a
// call that ran out of time. Retrying later can succeed.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	switch mysqlErr(err) {
	case errTooManyConns, errUserConns, errServerShutdown, errConnCount, errConnHost, errServerGone,
		errServerLost, errReadOnly, errQueryInterrupted:
		return true
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}
