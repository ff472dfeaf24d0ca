//go:build race

package blocklist

// raceEnabled skips the tests whose size makes them crawl under the race detector; they have no
// concurrency for it to check.
const raceEnabled = true
