from alpine as Builder
run echo hi
Copy a b
