import sys

text = "héllo wörld ✓ 日本"
print(text)
sys.stdout.buffer.write("raw bytes ✓\n".encode("utf-8"))
sys.stdout.flush()
print("to stderr ✗", file=sys.stderr)
