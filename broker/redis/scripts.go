package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts make each multi-step change atomic. go-redis runs them
// by EVALSHA and falls back to EVAL when Redis does not know them (after a
// restart).

// redisNowLua sets now to the Redis server's clock in ms, so that the
// rooms reserved by replicas whose clocks differ expire alike. (Redis 7
// replicates a script's effects, not the script: TIME is allowed.)
const redisNowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// roomLua defines full(jobs, group, reserved, max), which reports
// whether waiting jobs and reserved rooms fill the queue, having dropped
// the rooms that expired. Waiting = stream length - pending (claimed)
// entries, since acknowledged entries are deleted from the stream.
const roomLua = redisNowLua + `
local function full(jobs, group, reserved, max)
	redis.call('ZREMRANGEBYSCORE', reserved, '-inf', now)
	local pending = redis.call('XPENDING', jobs, group)[1]
	return redis.call('XLEN', jobs) - pending + redis.call('ZCARD', reserved) >= tonumber(max)
end
`

// reserveScript holds room for a run's job, unless the queue is full: a
// sorted set of run IDs scored by when their room frees itself.
//
// KEYS[1] jobs stream, KEYS[2] reserved rooms; ARGV[1] group, ARGV[2] max
// waiting, ARGV[3] run ID, ARGV[4] TTL ms. Returns 1, or false when full.
var reserveScript = goredis.NewScript(roomLua + `
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) and full(KEYS[1], ARGV[1], KEYS[2], ARGV[2]) then
	return false
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`)

// enqueueScript adds a job, in the room reserved for its run, or else
// unless the queue is full.
//
// KEYS[1] jobs stream, KEYS[2] reserved rooms; ARGV[1] group, ARGV[2] max
// waiting, ARGV[3] job JSON, ARGV[4] run ID. Returns the new entry's id,
// or false when the queue is full.
var enqueueScript = goredis.NewScript(roomLua + `
if redis.call('ZREM', KEYS[2], ARGV[4]) == 0 and full(KEYS[1], ARGV[1], KEYS[2], ARGV[2]) then
	return false
end
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
`)

// depthScript counts the waiting jobs, as enqueueScript does.
//
// KEYS[1] jobs stream; ARGV[1] group.
var depthScript = goredis.NewScript(`
return redis.call('XLEN', KEYS[1]) - redis.call('XPENDING', KEYS[1], ARGV[1])[1]
`)

// oldestWaitingScript returns the age in milliseconds, by the server's
// clock, of the oldest entry not yet delivered to the group (after its
// last-delivered-id), or 0 if there is none. An entry id newer than the
// clock (ids never go back when the clock does) counts as 0.
//
// KEYS[1] jobs stream; ARGV[1] group.
var oldestWaitingScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
	local name, id
	for i = 1, #g, 2 do
		if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
	end
	if name == ARGV[1] then last = id end
end
if not last then
	return redis.error_reply('NOGROUP no consumer group ' .. ARGV[1])
end
local e = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)[1]
if not e then
	return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local age = now - tonumber(string.match(e[1], '^(%d+)'))
if age < 0 then
	return 0
end
return age
`)

// reclaimScript takes over the oldest claim idle for at least the claim
// timeout and returns it with its delivery count (which XAUTOCLAIM has
// just raised). XAUTOCLAIM scans only so many pending entries a call, hence
// the loop over its cursor. Entries deleted from the stream while pending
// are dropped from the PEL by XAUTOCLAIM itself (Redis >= 7).
//
// KEYS[1] jobs stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] min idle ms.
// Returns {id, {field, value, ...}, deliveries}, or false.
var reclaimScript = goredis.NewScript(`
local cursor = '0-0'
repeat
	local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT', 1)
	cursor = r[1]
	local e = r[2][1]
	if e then
		local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)[1]
		return {e[1], e[2], p[4]}
	end
until cursor == '0-0'
return false
`)

// forgetScript deletes the consumers that hold no claim and have had no
// delivery for a while: workers that exited or were killed (their claims
// taken over since). A live worker that is forgotten is created again by
// its next delivery; one that holds a claim is never forgotten, since
// deleting a consumer drops its claims.
//
// KEYS[1] jobs stream; ARGV[1] group, ARGV[2] min idle ms.
// Returns how many consumers it deleted.
var forgetScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
	local f = {}
	for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
	if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
		redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
		n = n + 1
	end
end
return n
`)

// keepAliveScript resets a claim's idle time if the claim is still this
// delivery: same consumer, same delivery count. XCLAIM ... JUSTID keeps
// the count; a bare XCLAIM would take the job from whoever holds it now.
//
// KEYS[1] jobs stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] id,
// ARGV[4] deliveries. Returns 1, or 0 when the claim is lost.
var keepAliveScript = goredis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not p or p[2] ~= ARGV[2] or p[4] ~= tonumber(ARGV[4]) then
	return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`)

// ackScript removes a job for good, whoever holds it now.
//
// KEYS[1] jobs stream; ARGV[1] group, ARGV[2] id.
var ackScript = goredis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
`)

// deadLetterScript moves a job that is still in the queue to the capped
// dead-letter stream.
//
// KEYS[1] jobs stream, KEYS[2] dead-letter stream; ARGV[1] group, ARGV[2]
// id, ARGV[3] job JSON, ARGV[4] reason, ARGV[5] deliveries, ARGV[6] cap.
var deadLetterScript = goredis.NewScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
	return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
	'job', ARGV[3], 'reason', ARGV[4], 'deliveries', ARGV[5])
return 1
`)

// publishScript numbers an event, appends it to the run's replay buffer
// (trimmed to its size), renews both keys' TTL and publishes it — in one
// step, so that every subscriber finds each event in the buffer or on the
// channel, and seqs have no gaps even with concurrent publishers. The
// stored and published form is {"seq":N,"event":<event JSON>}.
//
// KEYS[1] seq, KEYS[2] buffer; ARGV[1] event JSON, ARGV[2] buffer size,
// ARGV[3] TTL ms, ARGV[4] channel. Returns the seq.
var publishScript = goredis.NewScript(`
local seq = redis.call('INCR', KEYS[1])
local msg = '{"seq":' .. seq .. ',"event":' .. ARGV[1] .. '}'
redis.call('RPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], msg)
return seq
`)

// replayScript returns the buffered events with seq > afterSeq, and at
// least the newest one, so the caller can tell a run that ended at or
// before afterSeq. Seqs in the buffer are consecutive and end at the
// counter, so the events after afterSeq are its last (counter - afterSeq).
//
// KEYS[1] seq, KEYS[2] buffer; ARGV[1] afterSeq.
var replayScript = goredis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if last == 0 then
	return {}
end
local n = math.max(last - tonumber(ARGV[1]), 1)
return redis.call('LRANGE', KEYS[2], -n, -1)
`)

// sendControlScript appends a control message to a run's list unless the
// list already holds maxMessages messages or would exceed maxBytes (of
// encoded messages), and keeps the list a TTL after the last message. A
// cancel is appended only if the run's cancelled key, which it sets for
// the TTL, was not set.
//
// KEYS[1] control list, KEYS[2] cancelled flag; ARGV[1] message JSON,
// ARGV[2] TTL ms, ARGV[3] max messages, ARGV[4] max bytes, ARGV[5] "1"
// for a cancel. Returns 1, 0 for a cancel already sent, or false when full.
var sendControlScript = goredis.NewScript(`
if ARGV[5] == '1' and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
	return 0
end
local waiting = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]))
if #waiting >= tonumber(ARGV[3]) then
	return false
end
local bytes = string.len(ARGV[1])
for _, m in ipairs(waiting) do
	bytes = bytes + string.len(m)
end
if bytes > tonumber(ARGV[4]) then
	return false
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// recentLua defines recent(key, now, width) for the scripts of the
// sliding-window logs — sorted sets scored by time in ms: it drops the
// entries width or more before now and returns how many are left and the
// oldest's score (now when none). Entries after now, from a replica whose
// clock is ahead, count too.
const recentLua = `
local function recent(key, now, width)
	redis.call('ZREMRANGEBYSCORE', key, '-inf', now - width)
	local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
	return redis.call('ZCARD', key), tonumber(oldest or now)
end
`

// admitScript checks an owner's quota and, if it allows a run or a
// submission, counts it: in one step, so that replicas together admit no
// more than the quota. It checks the kind's admissions today, the CPU time
// charged today, the active runs and submissions (one set for both) and
// the kind's admissions of the last minute, in that order, and counts
// nothing when one of them refuses.
//
// KEYS[1] day hash (a count per kind, cpu ms), KEYS[2] active runs and
// submissions (ID → admitted ms), KEYS[3] the kind's admissions (token →
// admitted ms); ARGV[1] now ms, ARGV[2] ID, ARGV[3] admission token
// (unique), ARGV[4] the kind's field in the day hash, ARGV[5] admissions
// a day, ARGV[6] CPU ms a day, ARGV[7] max active, ARGV[8] admissions a
// minute, ARGV[9] active run life ms, ARGV[10] minute ms, ARGV[11] day TTL
// ms, ARGV[12] active TTL ms, ARGV[13] admissions TTL ms. Returns {'ok'},
// or the limit that refuses: {'day'}, {'cpu'}, {'active'}, or {'minute',
// oldest admission ms}.
var admitScript = goredis.NewScript(recentLua + `
local now = tonumber(ARGV[1])
local day = redis.call('HMGET', KEYS[1], ARGV[4], 'cpu')
if tonumber(day[1] or 0) >= tonumber(ARGV[5]) then
	return {'day'}
end
if tonumber(day[2] or 0) >= tonumber(ARGV[6]) then
	return {'cpu'}
end
if recent(KEYS[2], now, tonumber(ARGV[9])) >= tonumber(ARGV[7]) then
	return {'active'}
end
local admitted, oldest = recent(KEYS[3], now, tonumber(ARGV[10]))
if admitted >= tonumber(ARGV[8]) then
	return {'minute', oldest}
end
redis.call('HINCRBY', KEYS[1], ARGV[4], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[11])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[12])
redis.call('ZADD', KEYS[3], now, ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[13])
return {'ok'}
`)

// endRunScript removes a run or a submission from its owner's active runs
// and, only if it was there, charges its CPU time to the day's hash: so
// one ended twice is charged once. One admitted the active run life or
// more ago no longer counts as active, so it is dropped uncharged.
//
// KEYS[1] active runs, KEYS[2] day hash; ARGV[1] now ms, ARGV[2] run ID,
// ARGV[3] CPU ms, ARGV[4] active run life ms, ARGV[5] day TTL ms.
// Returns 1 when charged, else 0.
var endRunScript = goredis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[4]))
if redis.call('ZREM', KEYS[1], ARGV[2]) == 0 then
	return 0
end
redis.call('HINCRBY', KEYS[2], 'cpu', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`)

// takeScript counts an attempt unless limit attempts are in the window
// before now: in one step, so that concurrent attempts cannot all pass a
// check together. A refusal counts nothing. The log only grows while below
// the limit, and a refusal trims it to the newest limit attempts (should
// the limit have been lowered): so it never holds more than limit, and the
// oldest left is the one to wait for.
//
// KEYS[1] attempts (token → ms); ARGV[1] now ms, ARGV[2] token (unique),
// ARGV[3] limit (>= 0), ARGV[4] window ms, ARGV[5] TTL ms. Returns {'ok'},
// or {'full', oldest attempt ms} (now ms when there is none: limit 0).
var takeScript = goredis.NewScript(recentLua + `
local now, limit = tonumber(ARGV[1]), tonumber(ARGV[3])
local n, oldest = recent(KEYS[1], now, tonumber(ARGV[4]))
if n >= limit then
	if n > limit then
		redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - limit - 1)
		oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or now)
	end
	return {'full', oldest}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok'}
`)
