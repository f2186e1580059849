# bash completion for dalle-submit, dalle-poll, dalle-fetch, dalle-serve
# and dalle-gallery.
# Plain compgen, no bash-completion helpers: source it, or install it under
# each command's name in bash-completion's completions directory.
# shellcheck shell=bash

_dalle() {
	local cur prev cmd opts vals=
	COMPREPLY=()
	cmd=${COMP_WORDS[0]##*/}
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	# bash splits "--size=1024x1024" at the "=".
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi

	case $cmd in
	dalle-submit)
		opts='-h --help -q --quiet -v --verbose -j --jobs -m --model
		    -n --n -s --size --deployment --quality --style
		    --response-format --output-format --output-compression
		    --background --complexity --moderation --safety-identifier
		    --today --list-models --image --mask --responses-model
		    --batch --batch-size --rebatch
		    -d --directory -o --output --journal
		    --user --partial-images --partial-dir
		    --dry-run --no-validate --keep-order
		    --rate --rate-file --api --endpoint
		    --base-url --api-version --api-key-file --token-command
		    --allow-http --cacert --retries --request-timeout
		    --max-line -f --file --version'
		case $prev in
		-f | --file)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		-m | --model)
			vals='gpt-image-2 gpt-image-2.5-flare gpt-image-2.5-sunburst
			    gpt-image-2.6-flare gpt-image-2.6-sunburst dall-e-2
			    dall-e-3 gpt-image-1 gpt-image-1-mini gpt-image-1.5' ;;
		-s | --size)
			vals='256x256 512x512 1024x1024 1792x1024 1024x1792
			    1536x1024 1024x1536 auto' ;;
		--quality) vals='standard hd low medium high auto xhigh max' ;;
		--complexity) vals='low medium high' ;;
		--moderation) vals='low auto' ;;
		--style) vals='vivid natural' ;;
		--response-format) vals='url b64_json' ;;
		--output-format) vals='png jpeg webp' ;;
		--background) vals='transparent opaque auto' ;;
		--image | --mask)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		--partial-images) vals='0 1 2 3' ;;
		--partial-dir | -d | --directory)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			return 0 ;;
		-o | --output | --journal)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		-j | --jobs | -n | --n | --deployment | --output-compression | \
		    --user | --endpoint | --base-url | --api-version | \
		    --retries | --request-timeout | --rate | \
		    --safety-identifier | --today | --responses-model | \
		    --batch-size | --max-line)
			return 0 ;;
		esac
		;;
	dalle-poll)
		opts='-h --help -q --quiet -v --verbose -j --jobs -t --timeout
		    --interval --poll-rate --keep-order --cancel --endpoint
		    --api-version
		    --api-key-file --token-command --allow-http --cacert --retries
		    --request-timeout --max-line --version'
		case $prev in
		-j | --jobs | -t | --timeout | --interval | --poll-rate | \
		    --endpoint | \
		    --api-version | --retries | --request-timeout | --max-line)
			return 0 ;;
		esac
		;;
	dalle-fetch)
		opts='-d --directory -f --force -h --help -j --jobs -o --output
		    -q --quiet -v --verbose --paths --journal --keep-order
		    --allow-http --cacert --retries --request-timeout --max-bytes
		    --max-line --no-provenance --sidecar --version'
		case $prev in
		-d | --directory)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			return 0 ;;
		-o | --output | --journal)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		-j | --jobs | --retries | --request-timeout | --max-bytes | --max-line)
			return 0 ;;
		esac
		;;
	dalle-gallery)
		opts='-h --help -q --quiet -o --output --base --title --inline
		    --max-line --version'
		case $prev in
		-o | --output)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		--base | --title | --max-line)
			return 0 ;;
		esac
		# Its operands are files of records.
		if [[ $cur != -* ]]; then
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
		fi
		;;
	dalle-serve)
		opts='-h --help -d --deployment -l --listen --api-key
		    --api-key-file --batch-expire --batch-fail-rate
		    --batch-latency --blocked-term --cache-size --concurrency
		    --drop-rate --echo-key --fail-rate --hostile --hostile-bytes
		    --hostile-peer --image-bytes --image-scale --jitter
		    --latency --log --public-url --rate-window --response-ttl
		    --rpm --seed
		    --slow-images --threads --token --token-file --today
		    --truncate-rate --url-ttl --version'
		case $prev in
		--log | --token-file)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0 ;;
		--echo-key)
			mapfile -t COMPREPLY < <(compgen -W 'body escaped header' \
			    -- "$cur")
			return 0 ;;
		-d | --deployment | -l | --listen | --api-key | --blocked-term | \
		    --batch-expire | --batch-fail-rate | --batch-latency | \
		    --cache-size | --concurrency | --drop-rate | --fail-rate | \
		    --hostile | --hostile-bytes | --hostile-peer | \
		    --image-bytes | --image-scale | --jitter | --latency | \
		    --public-url | --rate-window | --response-ttl | --rpm | \
		    --seed | \
		    --slow-images | --threads | --token | --truncate-rate | \
		    --url-ttl | --today)
			return 0 ;;
		esac
		;;
	*)
		return 0 ;;
	esac

	# Values the programs share.
	case $prev in
	--api) vals='azure-async azure azure-v1 openai responses' ;;
	--api-key-file | --cacert)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0 ;;
	--token-command)
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		return 0 ;;
	esac
	if [[ -n $vals ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$vals" -- "$cur")
	elif [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	fi
	return 0
}

complete -F _dalle dalle-submit dalle-poll dalle-fetch dalle-serve \
    dalle-gallery
