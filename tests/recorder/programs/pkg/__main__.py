print("pkg main")
