def step(i, acc):
    text = "x" * 200 + str(i)
    return acc + len(text)


acc = 0
for i in range(20000):
    acc = step(i, acc)
print("done", acc)
