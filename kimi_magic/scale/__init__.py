"""One prompt over every item of a table: `map` on an adaptive thread pool, or Workers AI's
async batch for big jobs, with a checkpoint so nothing is paid twice (issue 10).

Nothing here is imported by `import kimi_magic`; `kimi_magic.map` imports it on first use.
Record / replay files live in api/replay.py (a client substitute the Session hands out).
"""
