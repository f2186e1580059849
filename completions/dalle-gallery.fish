# fish completion for dalle-gallery(1)
complete -c dalle-gallery -s h -l help -d 'Print usage and exit'
complete -c dalle-gallery -s q -l quiet -d 'Print no warnings'
complete -c dalle-gallery -s o -l output -r -F -d 'Write the page to a file'
complete -c dalle-gallery -l base -x -d 'Put this before relative image paths'
complete -c dalle-gallery -l title -x -d 'Title of the page'
complete -c dalle-gallery -l inline -d 'Embed base64 images as data URLs'
complete -c dalle-gallery -l max-line -x -d 'Longest input line taken'
complete -c dalle-gallery -l version -d 'Print the versions and exit'
