package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts make each multi-step change atomic. go-redis runs them
// by EVALSHA and falls back to EVAL when Redis does not know them (after a
// restart).

// enqueueScript adds a job unless MaxWaiting jobs wait already. Waiting =
// stream length - pending (claimed) entries, since acknowledged entries
// are deleted from the stream.
//
// KEYS[1] jobs stream; ARGV[1] group, ARGV[2] max waiting, ARGV[3] job JSON.
// Returns the new entry's id, or false when the queue is full.
var enqueueScript = goredis.NewScript(`
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])[1]
if redis.call('XLEN', KEYS[1]) - pending >= tonumber(ARGV[2]) then
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
// encoded messages), and keeps the list a TTL after the last message.
//
// KEYS[1] control list; ARGV[1] message JSON, ARGV[2] TTL ms,
// ARGV[3] max messages, ARGV[4] max bytes. Returns 1, or false when full.
var sendControlScript = goredis.NewScript(`
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
