# Loops: the first values of an accumulator and a loop variable, while, nested, break.
def sum_to(n):
    total = 0
    for i in range(n):
        total += i
    return total


s = sum_to(3)
count = 0
while count < 2:
    count += 1
pairs = []
for a in range(2):
    for b in "xy":
        if a == 1 and b == "y":
            break
        pairs.append((a, b))
