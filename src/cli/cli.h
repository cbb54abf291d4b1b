/* The client side of the command line: commands that talk to a running
 * server over HTTP (libcurl) or, with a tcp:// address, the Faktory Work
 * Protocol (cli/fwpclient.h), and the generic command-running worker.
 * Each returns the process exit status (0 ok, 1 failure, 2 usage). */
#ifndef SYNQ_CLI_CLI_H
#define SYNQ_CLI_CLI_H

/* argv[0] is the command name ("enqueue", "job", ...). */
int synq_cli_enqueue(int argc, char **argv);
int synq_cli_job(int argc, char **argv);
int synq_cli_jobs(int argc, char **argv);
int synq_cli_queues(int argc, char **argv);
int synq_cli_work(int argc, char **argv);
int synq_cli_cron(int argc, char **argv);

#endif
