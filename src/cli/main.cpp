#include <cstdio>

int main() { std::puts("lineage"); return 0; }
