"""One prompt over every item of a table: map on threads, Workers AI's async batch, replay files.

Nothing here is imported by `import kimi_magic`; `kimi_magic.map` imports it on first use.
"""
