# fish completion for dalle-fetch(1)
complete -c dalle-fetch -f
complete -c dalle-fetch -s d -l directory -x -a '(__fish_complete_directories)' -d 'Directory for the files'
complete -c dalle-fetch -s f -l force -d 'Replace existing files'
complete -c dalle-fetch -s h -l help -d 'Print usage and exit'
complete -c dalle-fetch -s o -l output -r -F -d 'File name template, or - for stdout'
complete -c dalle-fetch -s j -l jobs -x -d 'Downloads in flight'
complete -c dalle-fetch -s q -l quiet -d 'Print no warnings'
complete -c dalle-fetch -s v -l verbose -d 'Trace HTTP to stderr'
complete -c dalle-fetch -l paths -d 'Print the file paths instead of records'
complete -c dalle-fetch -l allow-http -d 'Allow plain http image URLs to remote hosts'
complete -c dalle-fetch -l retries -x -d 'Retries per download'
complete -c dalle-fetch -l request-timeout -x -d 'Seconds per download attempt'
complete -c dalle-fetch -l keep-order -d 'Write records in input order'
