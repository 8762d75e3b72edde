/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Placeholder: the estimator issue builds the CLI here.
 */


int
main(void)
{
    return 1;
}
