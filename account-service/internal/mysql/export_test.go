package mysql

// Migrations exposes the shard schema's migration files to the tests.
var Migrations = migrations
