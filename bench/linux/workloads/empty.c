/* empty.c: the do-nothing program that every spawn and container workload starts. */
int main(void)
{
    return 0;
}
