namespace = {}
exec("def made_by_exec(x):\n    return x + 1\n", namespace)
result = namespace["made_by_exec"](1)
value = eval("result * 10")
print(value)
